"""The package's shape: ARCHITECTURE.md's inventory is the package, layers import one way,
and no modules import each other in a loop.

Imports are read from the source (``ast``), at the top of a module and inside functions
(a lazy import is still a dependency); imports under ``if TYPE_CHECKING:`` are not.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "bayes_bijstand"
ARCHITECTURE = ROOT / "ARCHITECTURE.md"
NAME = "bayes_bijstand"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(module: str) -> set[str]:
    """The package's modules that ``module`` imports (anywhere but under TYPE_CHECKING)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def target(base: str, name: str) -> str:
        sub = f"{base}.{name}"
        return sub if sub in MODULES else base

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for c in child.orelse:
                    visit(c)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name.split(".")[0] == NAME)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - child.level + 1]
                                    + ([child.module] if child.module else []))
                else:
                    base = child.module or ""
                if base.split(".")[0] == NAME:
                    found.update(target(base, a.name) for a in child.names)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {m for m in found if m in MODULES and m != module}


GRAPH: dict[str, set[str]] = {m: _imports(m) for m in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def _section(title: str) -> str:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert m, f"ARCHITECTURE.md has no '## {title}' section"
    return m.group(1)


def _inventory() -> set[str]:
    """Module names listed in ARCHITECTURE.md's inventory tree (indentation = nesting)."""
    block = re.search(r"```\n(.*?)```", _section("Inventory"), re.S)
    assert block, "the Inventory section has no code block"
    listed: set[str] = set()
    stack: list[tuple[int, str]] = []  # (indent, package path)
    for line in block.group(1).splitlines()[1:]:  # the first line is src/bayes_bijstand/
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        while stack and stack[-1][0] >= indent:
            stack.pop()
        prefix = [p for _, p in stack]
        words = line.split()
        if words[0].endswith("/"):
            pkg = words[0].rstrip("/")
            stack.append((indent, pkg))
            listed.add(".".join([NAME, *prefix, pkg]))
            continue
        # A line may list several files of one package ("forest.py diagnostic.py ...").
        for w in words:
            if not w.endswith(".py"):
                break
            stem = w[:-3]
            listed.add(".".join([NAME, *prefix] + ([] if stem == "__init__" else [stem])))
    return listed


def _layers() -> list[tuple[str, list[str]]]:
    rows = []
    for line in _section("Layers").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or cells[0] in ("layer", "") or set(cells[0]) <= {"-"}:
            continue
        rows.append((cells[0], [m.strip() for m in cells[1].split(",") if m.strip()]))
    return rows


def _layer_of(module: str, layers: list[tuple[str, list[str]]]) -> int | None:
    """Index of the layer whose most specific entry covers ``module``."""
    best: tuple[int, int] | None = None  # (specificity, layer index)
    for i, (_, entries) in enumerate(layers):
        for e in entries:
            full = NAME if e == NAME else f"{NAME}.{e}"
            if module == full or module.startswith(full + "."):
                spec = full.count(".") + (1 if module == full else 0)
                if best is None or spec > best[0]:
                    best = (spec, i)
    return None if best is None else best[1]


def test_no_import_cycles() -> None:
    assert _cycles(GRAPH) == []


def test_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail: a two-module loop and a three-module loop are found."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
    assert _cycles(graph) == [["a", "b"], ["c", "d", "e"]]


def test_inventory_lists_every_module_and_nothing_else() -> None:
    listed = _inventory()
    packages = {m for m, p in MODULES.items() if p.name == "__init__.py"}
    missing = sorted(set(MODULES) - listed - packages)
    stale = sorted(listed - set(MODULES))
    assert not missing, f"modules missing from ARCHITECTURE.md's inventory: {missing}"
    assert not stale, f"ARCHITECTURE.md lists modules that do not exist: {stale}"


def test_every_module_has_a_layer() -> None:
    layers = _layers()
    assert [name for name, _ in layers][:3] == ["base", "evidence", "specs"]
    missing = sorted(m for m in MODULES if _layer_of(m, layers) is None)
    assert not missing, f"add these modules to a layer in ARCHITECTURE.md: {missing}"


def test_layers_import_one_way() -> None:
    layers = _layers()
    bad = []
    for m, targets in sorted(GRAPH.items()):
        lm = _layer_of(m, layers)
        for t in sorted(targets):
            lt = _layer_of(t, layers)
            if lm is not None and lt is not None and lt > lm:
                bad.append(f"{m} ({layers[lm][0]}) imports {t} ({layers[lt][0]})")
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


GRADE_SPELLINGS = {
    "a grade compared with a name": re.compile(r'grade\W{0,3}\s*[!=]=\s*"'),
    "a grade list spelled out": re.compile(r'"se",\s*"ci",\s*"p"'),
    "a grade-keyed table": re.compile(r'"se":\s*"[^"]*",\s*"ci":\s*"'),
}


@pytest.mark.parametrize("what", sorted(GRADE_SPELLINGS))
def test_grade_names_are_spelled_only_in_the_grade_modules(what: str) -> None:
    """After parsing, code asks the grade registry; only evidence/grades.py (which decides a
    row's grade) and the registry itself spell grade names."""
    allowed = {"bayes_bijstand.evidence.grades", "bayes_bijstand.evidence.grade_registry"}
    pattern = GRADE_SPELLINGS[what]
    users = sorted(m for m, p in MODULES.items()
                   if m not in allowed and pattern.search(p.read_text(encoding="utf-8")))
    assert not users, f"{what} outside the grade registry: {users}"


def test_grade_spelling_patterns_match() -> None:
    """The patterns above can fail: each matches the spelling it is meant to catch."""
    assert GRADE_SPELLINGS["a grade compared with a name"].search('if r["grade"] == "prose":')
    assert GRADE_SPELLINGS["a grade compared with a name"].search("grade != \"counts\"")
    assert GRADE_SPELLINGS["a grade list spelled out"].search('np.isin(g, ["se", "ci", "p"])')
    assert GRADE_SPELLINGS["a grade-keyed table"].search('{"se": "o", "ci": "s"}')
    assert not GRADE_SPELLINGS["a grade-keyed table"].search('{"se": "SE", "y": "estimate"}')
