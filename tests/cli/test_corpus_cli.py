"""Every file of the bad-input corpus through the real CLI, in a subprocess.

``tests/reliability/corpus/MANIFEST.csv`` lists each file with what the CLI must do (and the
probe family it belongs to: structure, numeric, encoding, names, paths, specs, microdata):

* ``reject``: exit code 2, exactly one line on stderr, starting with ``error:`` and naming
  the file (and the row and field / TOML line and key where the manifest gives them), no
  traceback anywhere, and nothing written (``--out`` is not created).
* ``accept``: ``--dry-run`` exits 0 and writes nothing; a manifest fragment is a warning
  that must appear as one ``warning:`` line (a did-you-mean hint, not an error).

The corpus goes through the CLI's entry point in batches, one interpreter per core
(``corpus_runner.py``: ``bayes_bijstand.fit.main`` with stdout and stderr captured at the file
descriptors), because a fresh interpreter per file spends seconds importing before the first
line of validation. One rejected and one accepted file of every kind also run as their own
``python -m bayes_bijstand.fit`` subprocess, and their exit code, stdout and stderr must equal
the batch's (so start-up or import-time output that a batch would hide still fails a test).
Everything runs in a session fixture; each test then checks its own result, so a failure
names the corpus file.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "reliability" / "corpus"


@dataclass(frozen=True)
class Case:
    file: str
    kind: str
    expect: str
    row: str
    field: str
    fragment: str
    family: str

    @property
    def path(self) -> Path:
        return CORPUS / self.file


def _cases() -> list[Case]:
    with open(CORPUS / "MANIFEST.csv", encoding="utf-8", newline="") as fh:
        return [Case(**r) for r in csv.DictReader(fh)]


CASES = _cases()


def _argv(case: Case, out: Path) -> list[str]:
    f = str(case.path)
    what = {"estimates": ["--estimates", f], "microdata": ["--microdata", f],
            # a bad spec must be rejected before any evidence is loaded or sampled
            "spec": ["--model", f, "--outcome", "work_gt12h"]}[case.kind]
    flags = ["--out", str(out), "--draws", "20", "--tune", "20", "--chains", "1",
             "--compare-pooling", "none", "--contributions", "none", "--no-plots",
             "--no-report", "--quiet"]
    if case.expect == "accept":
        flags.append("--dry-run")
    return [sys.executable, "-m", "bayes_bijstand.fit", *what, *flags]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONWARNINGS", None)
    env["PYTHONHASHSEED"] = "0"
    return env


SUBPROCESS_FILES = (
    "estimates/p_negative.csv", "accepted/estimates_near_miss_arm.csv",
    "microdata/near_miss_arm.csv", "accepted/microdata_latin1.csv",
    "specs/typo_key.toml", "accepted/spec_minimal.toml",
)
"""Corpus files that also run as a real subprocess: one reject and one accept per kind."""


def _subprocess_case(case: Case, out: Path, cwd: Path, env: dict[str, str]) -> dict:
    p = subprocess.run(_argv(case, out), capture_output=True, text=True, env=env, cwd=cwd,
                       timeout=300)
    return {"code": p.returncode, "stdout": p.stdout, "stderr": p.stderr}


def _batches(cases: list[tuple[int, Case]], base: Path, env: dict[str, str]) -> dict[str, dict]:
    """Run ``cases`` through ``corpus_runner.py``, one interpreter per core."""
    n = max(1, min(os.cpu_count() or 1, len(cases)))
    chunks = [cases[i::n] for i in range(n)]

    def one(j: int, chunk: list[tuple[int, Case]]) -> dict[str, dict]:
        jobs, results = base / f"jobs{j}.json", base / f"results{j}.json"
        jobs.write_text(json.dumps([{"key": c.file, "argv": _argv(c, base / f"out{i}")[3:]}
                                    for i, c in chunk]), encoding="utf-8")
        p = subprocess.run([sys.executable, str(Path(__file__).with_name("corpus_runner.py")),
                            str(jobs), str(results)], capture_output=True, text=True, env=env,
                           cwd=base, timeout=1200)
        assert p.returncode == 0, p.stderr[-3000:]
        return json.loads(results.read_text(encoding="utf-8"))

    with ThreadPoolExecutor(max_workers=n) as pool:
        parts = list(pool.map(lambda jc: one(*jc), enumerate(chunks)))
    return {k: v for part in parts for k, v in part.items()}


@pytest.fixture(scope="session")
def corpus_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dict], dict[str, dict]]:
    """(batched results of every corpus file, real-subprocess results of SUBPROCESS_FILES)."""
    base = tmp_path_factory.mktemp("corpus")
    env = _env()
    cases = list(enumerate(CASES))
    sub_dir = base / "subprocess"
    sub_dir.mkdir()
    sub_cases = [(i, c) for i, c in cases if c.file in SUBPROCESS_FILES]
    assert len(sub_cases) == len(SUBPROCESS_FILES)
    with ThreadPoolExecutor(max_workers=2) as pool:
        subs = pool.map(lambda ic: (ic[1].file, _subprocess_case(
            ic[1], sub_dir / f"out{ic[0]}", sub_dir, env)), sub_cases)
        batched = _batches(cases, base, env)
        real = dict(subs)
    for i, case in cases:
        out = base / f"out{i}"
        batched[case.file].update(out=out, written=sorted(
            str(x.relative_to(base)) for x in base.rglob("*") if x.is_relative_to(out)))
    return batched, real


@pytest.fixture(scope="session")
def corpus_results(corpus_runs: tuple[dict[str, dict], dict[str, dict]]) -> dict[str, dict]:
    """Results keyed by corpus file: ``code, stdout, stderr, out, written``."""
    return corpus_runs[0]


def test_batched_runs_equal_real_subprocess_runs(
        corpus_runs: tuple[dict[str, dict], dict[str, dict]]) -> None:
    batched, real = corpus_runs
    assert set(real) == set(SUBPROCESS_FILES)
    kinds = {(c.kind, c.expect) for c in CASES if c.file in SUBPROCESS_FILES}
    assert kinds == {(k, e) for k in ("estimates", "microdata", "spec")
                     for e in ("reject", "accept")}
    for f, r in real.items():
        b = batched[f]
        assert (b["code"], b["stdout"], b["stderr"]) == (r["code"], r["stdout"], r["stderr"]), f


def test_manifest_covers_every_corpus_file() -> None:
    on_disk = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*")
               if p.is_file() and p.parent != CORPUS}
    listed = {c.file for c in CASES}
    assert on_disk == listed
    kinds = {(c.kind, c.expect) for c in CASES}
    assert kinds == {(k, e) for k in ("estimates", "microdata", "spec")
                     for e in ("reject", "accept")}
    families = {c.family for c in CASES}
    assert families == {"structure", "numeric", "encoding", "names", "paths", "specs",
                        "microdata"}


@pytest.mark.parametrize("case", [c for c in CASES if c.expect == "reject"], ids=lambda c: c.file)
def test_bad_input_is_one_line_exit_2_nothing_written(case: Case, corpus_results: dict) -> None:
    r = corpus_results[case.file]
    lines = [ln for ln in r["stderr"].splitlines() if ln.strip()]
    assert "Traceback" not in r["stderr"] + r["stdout"], r["stderr"]
    assert r["code"] == 2, (r["code"], r["stderr"])
    assert len(lines) == 1, r["stderr"]
    line = lines[0]
    assert line.startswith("error: "), line
    assert str(case.path) in line, line
    if case.row:
        where = "line" if case.kind == "spec" else "row"
        assert f", {where} {case.row}," in line or f", {where} {case.row}:" in line, line
    if case.field:
        label = "key" if case.kind == "spec" else "field"
        assert f"{label} '{case.field}'" in line, line
    assert case.fragment in line, line
    assert not r["out"].exists(), r["written"]
    assert r["stdout"].strip() == "", r["stdout"]


@pytest.mark.parametrize("case", [c for c in CASES if c.expect == "accept"], ids=lambda c: c.file)
def test_good_input_is_accepted(case: Case, corpus_results: dict) -> None:
    r = corpus_results[case.file]
    assert "Traceback" not in r["stderr"] + r["stdout"], r["stderr"]
    assert r["code"] == 0, r["stderr"]
    assert not r["out"].exists(), r["written"]  # --dry-run writes nothing
    lines = [ln for ln in r["stderr"].splitlines() if ln.strip()]
    if case.fragment:  # a near-miss of a known code: one warning line with a hint
        hits = [ln for ln in lines if case.fragment in ln]
        assert len(hits) == 1, r["stderr"]
        assert hits[0].startswith("warning: ") and str(case.path) in hits[0]
        assert f"row {case.row}" in hits[0] and f"field '{case.field}'" in hits[0]
    else:
        assert not [ln for ln in lines if ln.startswith(("error", "warning"))], r["stderr"]


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "bayes_bijstand.fit", "--estimates",
                        str(tmp_path / "nope.csv"), "--out", str(out), "--quiet"],
                       capture_output=True, text=True, env=_env(), timeout=120)
    assert p.returncode == 2 and p.stderr.count("\n") == 1
    assert p.stderr.startswith("error: ") and "nope.csv: file not found" in p.stderr
    assert not out.exists()


def test_bad_input_leaves_an_existing_out_dir_untouched(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "fits").mkdir(parents=True)
    (out / "summary.json").write_text('{"previous": "run"}\n', encoding="utf-8")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    case = next(c for c in CASES if c.file == "estimates/se_negative.csv")
    p = subprocess.run(_argv(case, out), capture_output=True, text=True, env=_env(), timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


# --------------------------------------------------------------------------- special files


def _one_error_line(p: subprocess.CompletedProcess, code: int = 2) -> str:
    assert "Traceback" not in p.stderr + p.stdout, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == code, (p.returncode, p.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    return lines[0]


def _fit(*args: str, env: dict[str, str] | None = None,
         timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bayes_bijstand.fit", *args, "--quiet"],
                          capture_output=True, text=True, env=env or _env(), timeout=timeout)


def test_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    """A named pipe as --estimates used to block forever in read(); now one line."""
    fifo = tmp_path / "estimates.csv"
    os.mkfifo(fifo)
    out = tmp_path / "out"
    line = _one_error_line(_fit("--estimates", str(fifo), "--out", str(out), timeout=60))
    assert f"{fifo}: is a named pipe (FIFO)" in line
    assert not out.exists()


def test_device_is_refused(tmp_path: Path) -> None:
    """/dev/zero used to end in a MemoryError; devices are refused before opening."""
    out = tmp_path / "out"
    line = _one_error_line(_fit("--estimates", "/dev/zero", "--out", str(out), timeout=60))
    assert "/dev/zero: is a device" in line
    line = _one_error_line(_fit("--model", "/dev/zero", "--outcome", "work_gt12h", "--out",
                                str(out), timeout=60))
    assert "/dev/zero: is a device, expected a TOML model spec" in line
    assert not out.exists()


def test_oversized_input_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    big.write_text("gemeente,arm,outcome,estimate,se\n" + "groningen,zelf_in_actie,work_gt12h,"
                   "0.02,0.01\n" * 60000, encoding="utf-8")  # ~2.6 MB
    env = dict(_env(), BAYES_BIJSTAND_MAX_INPUT_MB="1")
    line = _one_error_line(_fit("--estimates", str(big), "--out", str(tmp_path / "o"), env=env))
    assert "larger than the 1 MiB limit" in line and "BAYES_BIJSTAND_MAX_INPUT_MB" in line


def test_out_under_a_file_is_one_line(tmp_path: Path) -> None:
    """An --out that cannot be created (its parent is a file) is refused before sampling."""
    (tmp_path / "file").write_text("x", encoding="utf-8")
    case = next(c for c in CASES if c.file == "accepted/estimates_utf8_bom_crlf.csv")
    line = _one_error_line(_fit("--estimates", str(case.path), "--out",
                                str(tmp_path / "file" / "out"), "--draws", "20"))
    assert "is not a directory" in line


def test_unwritable_out_is_one_line(tmp_path: Path) -> None:
    """/proc refuses new directories even to root: the run stops before any sampling."""
    case = next(c for c in CASES if c.file == "accepted/estimates_utf8_bom_crlf.csv")
    p = _fit("--estimates", str(case.path), "--out", "/proc/bayes-bijstand-test-out",
             "--draws", "20", "--no-plots", "--no-report")
    line = _one_error_line(p)
    assert "/proc" in line
