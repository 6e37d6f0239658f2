"""Benchmark 4: end to end, ``python -m bayes_bijstand.fit --all-gemeenten --out DIR``.

Three subprocess runs, in order:

* **cold** — fresh output dir and empty PyTensor/Numba compile caches (a fresh machine);
* **resume** — the same output dir again (every fit is already there: resume);
* **warm** — a fresh output dir with the compile caches the cold run filled.

Wall time includes interpreter start and imports; peak memory is the summed RSS of the
process tree (sampled) and the largest single process (``wait4``).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, fresh_cache_env, run_timed

TARGET_COLD_S = 60.0  # issue 24: the main job in a minute cold, 30 s warm
TARGET_WARM_S = 30.0


def _run(args: list[str], env: dict[str, str], timeout: float, log_path: Path) -> dict[str, Any]:
    r = run_timed([sys.executable, "-m", "bayes_bijstand.fit", *args], env={**os.environ, **env},
                  cwd=ROOT, timeout=timeout, log_path=log_path, sample_rss=True)
    out = {"cmd": " ".join(["python", "-m", "bayes_bijstand.fit", *args]),
           "wall_s": r["wall_s"], "returncode": r["returncode"],
           "maxrss_mb": r["rusage"].ru_maxrss / 1024, "peak_tree_rss_mb": r["peak_tree_rss_mb"],
           "status": r["status"]}
    text = r["log"]
    out["log_tail"] = text[-2500:]
    return out


def _outputs(d: Path) -> dict[str, Any]:
    files = [p for p in d.rglob("*") if p.is_file()]
    return {"n_files": len(files), "n_fits_done": sum(p.suffix == ".nc" for p in files
                                                      if p.parent.name == "fits")}


def run(quick: bool = False, timeout: float = 900.0, log: Any = print) -> dict[str, Any]:
    args = ["--all-gemeenten", "--quiet"]
    if quick:
        args += ["--outcome", "work_gt12h", "--compare-pooling", "none", "--contributions",
                 "none", "--no-report", "--no-plots", "--draws", "300", "--tune", "300"]
    res: dict[str, Any] = {"settings": {"args": args, "timeout_s": timeout,
                                        "target_cold_s": TARGET_COLD_S,
                                        "target_warm_s": TARGET_WARM_S}, "runs": {}}
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as td:
        td = Path(td)
        env = fresh_cache_env(td / "cache")
        out1, out2 = td / "out_cold", td / "out_warm"
        for label, out in (("cold", out1), ("resume", out1), ("warm", out2)):
            if label != "cold" and res["runs"]["cold"]["status"] == "timed out":
                res["runs"][label] = {"status": "skipped (cold run timed out)", "wall_s": None,
                                      "peak_tree_rss_mb": None}
                log(f"  e2e/{label}: skipped (cold run timed out)")
                continue
            r = _run([*args, "--out", str(out)], env, timeout, td / f"{label}.log")
            r.update(_outputs(out) if out.exists() else {})
            res["runs"][label] = r
            log(f"  e2e/{label}: {r['status']} wall={r['wall_s']:.1f}s "
                f"rss={r['peak_tree_rss_mb']:.0f}MB fits done={r.get('n_fits_done')}")
    cold, warm, resume = (res["runs"][k] for k in ("cold", "warm", "resume"))
    res["targets"] = {
        "cold_le_target": cold["status"] == "ok" and cold["wall_s"] <= TARGET_COLD_S,
        "warm_le_30s": (warm["status"] == "ok" and warm["wall_s"] <= TARGET_WARM_S)
        if warm["wall_s"] is not None else None,
        "resume_le_30s": (resume["status"] == "ok" and resume["wall_s"] <= TARGET_WARM_S)
        if resume["wall_s"] is not None else None,
    }
    return res
