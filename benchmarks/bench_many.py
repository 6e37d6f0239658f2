"""Benchmark 5: many municipalities - one outcome, one SE-graded row per municipality.

A user's estimates file (``fit --estimates``) with ``n`` municipalities (100, 300, 1,000), each
one row of ``work_gt12h`` for one arm with its printed SE, fitted by the CLI as a user runs it
(``python -m bayes_bijstand.fit --estimates FILE --out DIR``: the main fit and the two pooling
comparison refits, retries included, figures and report), at the issue's short settings
(``--draws 200 --tune 200 --chains 2``) and at the spec's defaults. Each configuration runs
for the code at a git ref (``--before``, exported with ``git archive`` and put first on
``PYTHONPATH``) and for the working tree, side by side in one run, each in a fresh process
with its own empty PyTensor/numba cache (every size compiles its own model: that compile
is part of what a user waits for).

Reported per run: wall seconds, CPU seconds (user + sys of the process tree, from ``wait4``:
the fairer number on a shared machine), the load average at the start, whether every fit
passed the gate, and the row representation the fit ran with. No assertion on time: the
targets are read off the table (RESULTS.md).

    .venv/bin/python benchmarks/bench_many.py --before main~3 [--sizes 100 300 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, machine_info, run_timed, write_json

SIZES = (100, 300, 1000)
SETTINGS = {"short": ["--draws", "200", "--tune", "200", "--chains", "2"], "default": []}
TARGET_S = 30.0  # 1,000 municipalities at the default draws
HEADER = "gemeente,arm,outcome,comparison,estimate,se,n_treatment,n_control\n"


def estimates_file(n: int, path: Path, seed: int = 24) -> Path:
    """``n`` municipalities, one row each: true effects 3 pp +- 2 pp, SE from n ~ 150-400."""
    rng = np.random.default_rng(seed + n)
    lines = [HEADER]
    for i in range(n):
        nt, nc = (int(x) for x in rng.integers(150, 400, 2))
        se = float(np.sqrt(0.2 * 0.8 * (1 / nt + 1 / nc)))
        y = 0.03 + 0.02 * rng.standard_normal() + se * rng.standard_normal()
        lines.append(f"stad_{i:04d},extra_hulp,work_gt12h,vs_control,{y:.5f},{se:.5f},{nt},{nc}\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def export_ref(ref: str, dest: Path) -> Path:
    """The package source at git ``ref`` (``git archive``), returned as its ``src`` folder."""
    dest.mkdir(parents=True, exist_ok=True)
    tar = dest / "src.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(tar), ref, "src",
                    "models"], check=True)  # the package and its default specs, as at ref
    with tarfile.open(tar) as t:
        t.extractall(dest, filter="data")
    return dest / "src"


def fit_once(src: Path | None, estimates: Path, out: Path, extra: list[str], timeout: float,
             cache: Path) -> dict[str, Any]:
    """One CLI run in a fresh process; wall and CPU seconds, gate, representation."""
    env = dict(os.environ)
    env["PYTENSOR_FLAGS"] = f"base_compiledir={cache}"
    env["NUMBA_CACHE_DIR"] = str(cache / "numba")
    if src is not None:
        env["PYTHONPATH"] = str(src) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "bayes_bijstand.fit", "--estimates", str(estimates),
           "--out", str(out), "--quiet", "--allow-warnings", *extra]
    load = os.getloadavg()[0]
    out.parent.mkdir(parents=True, exist_ok=True)
    r = run_timed(cmd, env=env, cwd=src.parent if src is not None else ROOT, timeout=timeout,
                  log_path=out.parent / f"{out.name}.log")
    ru = r["rusage"]
    # Children of the CLI (the figure process) are reaped by it: wait4's rusage covers them.
    res: dict[str, Any] = {"wall_s": r["wall_s"], "cpu_s": ru.ru_utime + ru.ru_stime,
                           "load_1min": load, "maxrss_mb": ru.ru_maxrss / 1024,
                           "status": r["status"], "log_tail": r["log"][-800:]}
    summary = out / "summary.json"
    if summary.exists():
        s = json.loads(summary.read_text())
        res["fits"] = {k: v["status"] for k, v in s["fits"].items()}
        res["sampler"] = s.get("sampler")
    return res


def run(sizes: tuple[int, ...] = SIZES, before: str | None = None, timeout: float = 600.0,
        settings: tuple[str, ...] = tuple(SETTINGS), log: Any = print,
        before_sizes: tuple[int, ...] | None = None,
        before_settings: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Every (code, setting, size) configuration; returns the results table.

    ``before_sizes`` / ``before_settings`` limit the configurations the ``before`` code runs
    (its MCMC fits take minutes each; default: all); the result says which it ran.
    """
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-many-") as tmp:
        d = Path(tmp)
        codes: list[tuple[str, Path | None]] = []
        if before:
            codes.append((f"before ({before})", export_ref(before, d / "before")))
        codes.append(("after (working tree)", None))
        for setting in settings:
            for n in sizes:
                est = estimates_file(n, d / f"est{n}.csv")
                for label, src in codes:
                    if src is not None and ((before_sizes is not None and n not in before_sizes)
                                            or (before_settings is not None
                                                and setting not in before_settings)):
                        continue
                    tag = f"{'b' if src else 'a'}-{setting}-{n}"
                    r = fit_once(src, est, d / f"out-{tag}", SETTINGS[setting], timeout,
                                 d / f"cache-{tag}")
                    r.update({"code": label, "setting": setting, "n": n})
                    results.append(r)
                    log(f"{label:>28} {setting:>7} n={n:>5}: {r['status']:>9} "
                        f"wall {r['wall_s']:6.1f} s  cpu {r['cpu_s']:6.1f} s  "
                        f"load {r['load_1min']:.1f}  fits {r.get('fits')}")
    return {"target_s": TARGET_S, "results": results, "machine": machine_info(),
            "before": before, "before_sizes": list(before_sizes or sizes),
            "before_settings": list(before_settings or settings), "timeout_s": timeout}


def table(res: dict[str, Any]) -> str:
    """Markdown table: before and after side by side per setting and size."""
    rows = ["| setting | municipalities | code | wall s | CPU s (user+sys) | load | fits |",
            "|---|---:|---|---:|---:|---:|---|"]
    for r in res["results"]:
        wall = f"> {r['wall_s']:.0f}" if r["status"] == "timed out" else f"{r['wall_s']:.1f}"
        st = list((r.get("fits") or {}).values())
        fits = ", ".join(f"{st.count(v)} {v}" for v in dict.fromkeys(st))
        rows.append(f"| {r['setting']} | {r['n']} | {r['code']} | {wall} | {r['cpu_s']:.1f} | "
                    f"{r['load_1min']:.1f} | {fits or r['status']} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", help="git ref of the code to compare against (e.g. main~3)")
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per CLI run")
    p.add_argument("--before-sizes", type=int, nargs="+",
                   help="sizes the --before code runs (default: all)")
    p.add_argument("--before-settings", nargs="+", choices=list(SETTINGS),
                   help="settings the --before code runs (default: all)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    a = p.parse_args(argv)
    res = run(tuple(a.sizes), a.before, a.timeout, tuple(a.settings),
              before_sizes=tuple(a.before_sizes) if a.before_sizes else None,
              before_settings=tuple(a.before_settings) if a.before_settings else None)
    res = {"run_id": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), "quick": False, **res}
    write_json(a.out / "many.json", res)
    print(table(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
