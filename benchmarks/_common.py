"""Shared helpers of the benchmark suite: atomic writes, machine info, isolated workers.

Every configuration that is timed against another runs in its own fresh Python process
(:func:`run_worker`), so "cold" really means a fresh interpreter, and peak memory is that of
the configuration alone. The worker protocol: ``python <module> --worker '<json config>'
--result <file>``; the module's ``worker(config) -> dict`` result is written to ``<file>``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- writing


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it onto ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _clean(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf become None, numpy scalars become Python numbers."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_clean(obj), indent=2, sort_keys=False) + "\n")
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


# --------------------------------------------------------------------------- machine


def _version(mod: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(mod)
    except Exception:  # noqa: BLE001 - not installed
        return None


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gb = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 1024**2, 1)
    pkgs = ["bayes_bijstand", "pymc", "pytensor", "nutpie", "bambi", "numpy", "scipy",
            "statsmodels", "arviz", "numba", "jax", "numpyro", "pymare"]
    return {
        "nproc": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu,
        "mem_total_gb": mem_gb,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {p: _version(p) for p in pkgs},
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


# --------------------------------------------------------------------------- workers


def run_timed(cmd: list[str], *, env: dict[str, str], cwd: Path, timeout: float,
              log_path: Path, sample_rss: bool = False) -> dict[str, Any]:
    """Run ``cmd`` in its own session with output to ``log_path``; kill it after ``timeout``.

    Returns ``wall_s``, ``status`` (ok / failed / timed out), ``returncode``, ``rusage``
    (``wait4``'s, covering the children the command reaped), ``peak_tree_rss_mb`` (sampled
    every 0.2 s when ``sample_rss``, else 0) and ``log`` (the output).
    """
    t0 = time.perf_counter()
    peak, timed_out = 0, False
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            if sample_rss:
                peak = max(peak, _tree_rss_bytes(proc.pid))
            if time.perf_counter() - t0 > timeout:
                timed_out = True
                os.killpg(proc.pid, 9)
                _, status, rusage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.2)
    rc = os.waitstatus_to_exitcode(status)
    return {"wall_s": time.perf_counter() - t0, "returncode": rc, "rusage": rusage,
            "status": "timed out" if timed_out else ("ok" if rc == 0 else "failed"),
            "peak_tree_rss_mb": peak / 1024**2,
            "log": log_path.read_text(errors="replace")}


def _tree_rss_bytes(pid: int) -> int:
    """Summed RSS of ``pid`` and all its descendants (0 if it is gone)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil ships with the dev env
        return 0
    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for q in procs:
        with contextlib.suppress(psutil.Error):
            total += q.memory_info().rss
    return total


def run_worker(module: Path, config: dict[str, Any], *, timeout: float,
               env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``module --worker config`` in a fresh process with a wall-clock limit.

    Returns the worker's result dict plus ``process_wall_s`` (start to exit, imports
    included), ``maxrss_mb`` (largest single process, from ``wait4``) and
    ``peak_tree_rss_mb`` (largest summed RSS of the process tree, sampled every 0.2 s).
    On timeout the whole process group is killed and ``status`` is ``"timed out"``.
    """
    with tempfile.TemporaryDirectory(prefix="bench-") as td:
        result_file = Path(td) / "result.json"
        cmd = [sys.executable, str(module), "--worker", json.dumps(config),
               "--result", str(result_file)]
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        log_file = Path(td) / "log.txt"
        t0 = time.perf_counter()
        with open(log_file, "w") as log:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            peak = 0
            status, rusage, timed_out = None, None, False
            while True:
                pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
                if pid == proc.pid:
                    break
                peak = max(peak, _tree_rss_bytes(proc.pid))
                if time.perf_counter() - t0 > timeout:
                    timed_out = True
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    _, status, rusage = os.wait4(proc.pid, 0)
                    break
                time.sleep(0.2)
            proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out: dict[str, Any] = {"config": config}
        if result_file.exists():
            out.update(json.loads(result_file.read_text()))
        out["process_wall_s"] = wall
        out["maxrss_mb"] = rusage.ru_maxrss / 1024 if rusage is not None else None
        out["peak_tree_rss_mb"] = peak / 1024**2 if peak else None
        out["returncode"] = proc.returncode
        if timed_out:
            out["status"] = "timed out"
            out["timeout_s"] = timeout
        elif proc.returncode != 0 or not result_file.exists():
            out["status"] = "failed"
            out["log_tail"] = log_file.read_text()[-3000:]
        else:
            out.setdefault("status", "ok")
        return out


def worker_main(worker: Callable[[dict[str, Any]], dict[str, Any]],
                argv: list[str] | None = None) -> int:
    """Entry point of a benchmark module run as a worker process."""
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--worker", required=True, help="JSON config")
    p.add_argument("--result", required=True, type=Path)
    a = p.parse_args(argv)
    cfg = json.loads(a.worker)
    cfg["_result"] = str(a.result)  # workers may write partial results here
    res = worker(cfg)
    write_json(a.result, res)
    return 0


COMPILE_S: list[float] = []
"""Seconds of each ``nutpie.compile_pymc_model`` call in this process (after patching)."""


def time_nutpie_compile() -> None:
    """Patch ``nutpie.compile_pymc_model`` to record its seconds in :data:`COMPILE_S`.

    ``pm.sample(nuts_sampler="nutpie")`` (and so bambi's nutpie path and ``fit_meta``) looks
    the function up on the module at call time, so the patch splits a fit's wall time into
    compilation and the rest (mostly sampling).
    """
    try:
        import nutpie
    except ImportError:
        return
    orig = nutpie.compile_pymc_model
    if getattr(orig, "_bench_timed", False):
        return

    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return orig(*args, **kwargs)
        finally:
            COMPILE_S.append(time.perf_counter() - t0)

    timed._bench_timed = True  # type: ignore[attr-defined]
    nutpie.compile_pymc_model = timed


def fresh_cache_env(td: str | os.PathLike[str]) -> dict[str, str]:
    """Environment with empty PyTensor and Numba caches: a truly cold compile.

    ``base_compiledir``, not ``compiledir``: PyTensor keeps its numba cache in
    ``base_compiledir/numba`` (whatever ``NUMBA_CACHE_DIR`` says), so setting only
    ``compiledir`` left that cache warm and made the "cold" run a warm one.
    """
    td = Path(td)
    (td / "pytensor").mkdir(parents=True, exist_ok=True)
    (td / "numba").mkdir(parents=True, exist_ok=True)
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    flags = ",".join(f for f in [flags, f"base_compiledir={td / 'pytensor'}"] if f)
    return {"PYTENSOR_FLAGS": flags, "NUMBA_CACHE_DIR": str(td / "numba")}


# --------------------------------------------------------------------------- statistics


def min_bulk_ess(tree: Any, var_names: list[str]) -> dict[str, float]:
    """Minimum bulk ESS per variable (over its coordinates) of a DataTree/InferenceData."""
    import arviz as az
    import numpy as np

    post = tree["posterior"]
    post = post.to_dataset() if hasattr(post, "to_dataset") else post
    out: dict[str, float] = {}
    for v in var_names:
        if v not in post.data_vars:
            continue
        da = post[v]
        other = [d for d in da.dims if d not in ("chain", "draw")]
        arr = da.transpose("chain", "draw", *other).to_numpy().reshape(
            da.sizes["chain"], da.sizes["draw"], -1)
        vals = []
        for j in range(arr.shape[-1]):
            x = arr[:, :, j]
            if np.ptp(x) == 0:  # constant by construction (e.g. padding)
                continue
            vals.append(float(az.ess(x, method="bulk")))
        if vals:
            out[v] = min(vals)
    return out


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not (isinstance(a, int | float) and isinstance(b, int | float)):
        return None
    if b == 0 or not math.isfinite(a) or not math.isfinite(b):
        return None
    return a / b


def fmt(x: Any, digits: int = 2) -> str:
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    if isinstance(x, float):
        if x == 0:
            return "0"
        if abs(x) >= 100:
            return f"{x:,.0f}"
        if abs(x) >= 0.01:
            return f"{x:.{digits}f}"
        return f"{x:.2e}"
    return str(x)
