"""A fast, deterministic stand-in for :func:`bayes_bijstand.meta.fit_meta` (no sampling).

The reliability tests exercise everything around a fit - planning, resuming, atomic
writes, Dask, aggregation, exit codes - and need many fits, which real sampling makes far
too slow. :func:`fake_fit_meta` returns an object with the interface of
:class:`~bayes_bijstand.meta.MetaResult` that ``run.job.run_job`` uses, built from the real
row selection and a seeded RNG, and writes a real (small) netCDF through
:func:`bayes_bijstand.io.atomic_path`.

Behaviour is set by environment variables, so that it also holds in a CLI subprocess and on
Dask workers:

``BB_FAKE_SLEEP``          seconds each fit takes (default 0)
``BB_FAKE_FAIL``           comma-separated outcomes whose diagnostics fail (after the "retry");
                           ``OUTCOME.pooling-MODE`` fails only that pooling-comparison fit
``BB_FAKE_LOG``            file to which each fit appends one JSON line (pid, job, times)
``BB_FAKE_HANG_IN_WRITE``  outcome whose netCDF write stops half-way, leaving the temp file
                           (for the SIGKILL test)

Run the CLI with the fake: ``python -m bb_fakes --outcome ... --out ...`` (this directory on
``PYTHONPATH``). In-process: :func:`install` (or monkeypatch ``bayes_bijstand.meta.fit_meta``).
For Dask, submit :func:`run_job` (it installs the fake inside the worker, then calls the real
``run.job.run_job``).
"""

from __future__ import annotations

import json
import os
import sys
import time
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from bayes_bijstand.run import job as _job

HERE = Path(__file__).resolve().parent
REAL_RUN_JOB = _job.run_job
"""The real ``run.job.run_job``, whatever a test later monkeypatches."""

REPORTED = ("mu", "tau", "mu_arm", "theta_new", "tau_arm")


@dataclass
class FakeDiagnostics:
    passed: bool
    problems: list[str] = field(default_factory=list)
    retried: bool = False

    @property
    def status(self) -> str:
        return "passed" if self.passed else "failed"

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "status": self.status, "rhat_max": 1.002 if self.passed
                else 1.31, "ess_bulk_min": 812.0 if self.passed else 11.0,
                "ess_tail_min": 733.0 if self.passed else 9.0,
                "divergences": 0 if self.passed else 17, "bfmi_min": 0.9, "n_draws": 400,
                "problems": list(self.problems), "retried": self.retried,
                "retry_settings": {"target_accept": 0.99, "tune": 200} if self.retried else {}}


@dataclass
class FakeResult:
    outcome: str
    kind: str
    spec: Any
    table: pd.DataFrame
    diagnostics: FakeDiagnostics
    pooling: str
    tree: Any
    data: Any

    @property
    def display_factor(self) -> float:
        return 100.0 if self.kind == "binary" else 1.0

    @property
    def unit(self) -> str:
        return "percentage points" if self.kind == "binary" else "SD (SMD)"

    def mid(self) -> float:
        return self.spec.priors(self.kind).mid

    def _draws(self) -> np.ndarray:
        return self.tree["posterior"]["mu_arm"].values.reshape(-1, len(self.data.arms))

    def summary(self, **_: Any) -> pd.DataFrame:
        d = self._draws()
        rows = []
        for j, arm in enumerate(self.data.arms):
            x = d[:, j]
            lo, hi = np.quantile(x, [0.05, 0.95])
            for par, shift in (("mu_arm", 0.0), ("theta_new", 0.0), ("tau_arm", 0.0)):
                y = np.abs(x) if par == "tau_arm" else x + shift
                rows.append({"parameter": par, "label": arm, "mean": float(y.mean()),
                             "sd": float(y.std()), "ci_low": float(lo), "ci_high": float(hi),
                             "prob_gt_0": float((y > 0).mean()),
                             "prob_gt_mid": float((y > self.mid()).mean()),
                             "freq_estimate": float(x.mean()), "freq_ci_low": float(lo),
                             "freq_ci_high": float(hi), "freq_k": len(self.data.gemeenten)})
        out = pd.DataFrame(rows)
        out.insert(0, "outcome", self.outcome)
        out["status"] = self.diagnostics.status
        out["pooling_mode"] = self.pooling
        return out

    def gemeenten(self, **_: Any) -> pd.DataFrame:
        rows = [{"outcome": self.outcome, "gemeente": g, "arm": a, "mean": 0.01 * (i + 1),
                 "ci_low": 0.0, "ci_high": 0.02 * (i + 1)}
                for i, (g, a) in enumerate((g, a) for g in self.data.gemeenten for a in self.data.arms)]
        return pd.DataFrame(rows)

    def coach(self, **_: Any) -> pd.DataFrame:
        return pd.DataFrame()  # no coach component in the fake

    def i2(self) -> pd.DataFrame:
        return pd.DataFrame([{"outcome": self.outcome, "arm": a, "i2_mean": 0.3}
                             for a in self.data.arms])

    def to_netcdf(self, path: str | os.PathLike[str]) -> Path:
        from bayes_bijstand.io import atomic_path

        tree = self.tree.copy()
        tree.attrs.update({"outcome": self.outcome, "random_seed": str(self.spec.sampler.random_seed),
                           "evidence_sha256": "fake", "modeling_interface": "bb_fakes"})
        with atomic_path(path) as tmp:
            tree.to_netcdf(tmp, engine="h5netcdf", mode="w")
            if os.environ.get("BB_FAKE_HANG_IN_WRITE") == self.outcome:
                _log({"event": "hang", "outcome": self.outcome, "tmp": str(tmp)})
                time.sleep(3600)  # the test SIGKILLs us here, with the temp file on disk
        return Path(path)


def _log(entry: dict[str, Any]) -> None:
    path = os.environ.get("BB_FAKE_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(dict(entry, pid=os.getpid())) + "\n")


def fake_fit_meta(evidence: pd.DataFrame, spec: Any, outcome: str, *, pooling: str | None = None,
                  cores: int = 2, grades: tuple[str, ...] | None = None,
                  **_: Any) -> FakeResult:
    """Same signature as ``fit_meta``; deterministic in (evidence rows, spec, outcome, pooling)."""
    import xarray as xr

    from bayes_bijstand.models.selection import select_rows
    from bayes_bijstand.run.plan import outcome_kind

    t0 = time.time()
    kind = outcome_kind(outcome)
    if grades is not None:
        spec = replace(spec, grades=grades)
    pooling = pooling or spec.pooling
    from bayes_bijstand.evidence.outcomes import domain_family, threshold_family, trajectory_outcome
    from bayes_bijstand.models.domains import domain_table
    from bayes_bijstand.models.thresholds import joint_table
    from bayes_bijstand.models.trajectories import trajectory_table

    fam, dom = threshold_family(outcome), domain_family(outcome)
    base = trajectory_outcome(outcome)
    table = (joint_table(evidence, fam, spec) if fam
             else domain_table(evidence, dom, spec) if dom
             else trajectory_table(evidence, base, kind, spec) if base
             else select_rows(evidence, outcome, kind, spec))
    used = table[table["used"]] if len(table) else table
    gemeenten = sorted(used["gemeente"].unique()) if len(used) else []
    arms = sorted(used["arm"].unique()) if len(used) else []
    seed = (spec.sampler.random_seed + zlib.crc32(f"{outcome}|{pooling}|{grades}".encode())) % 2**32
    rng = np.random.default_rng(seed)
    s = spec.sampler
    draws = rng.normal(0.02, 0.01, size=(s.chains, s.draws, max(1, len(arms))))
    post = xr.Dataset({"mu_arm": (("chain", "draw", "arm"), draws)},
                      coords={"chain": np.arange(s.chains), "draw": np.arange(s.draws),
                              "arm": arms or ["none"]})
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((s.chains, s.draws), bool))})
    tree = xr.DataTree.from_dict({"posterior": post, "sample_stats": stats})
    delay = float(os.environ.get("BB_FAKE_SLEEP", "0") or 0)
    if delay:
        time.sleep(delay)
    names = {o for o in os.environ.get("BB_FAKE_FAIL", "").split(",") if o}
    fail = outcome in names or (pooling != "partial" and f"{outcome}.pooling-{pooling}" in names)
    diag = FakeDiagnostics(passed=not fail, retried=fail,
                           problems=["first attempt: R-hat 1.240 > 1.01; 17 divergent transitions",
                                     "R-hat 1.310 > 1.01", "17 divergent transitions"] if fail else [])
    _log({"event": "fit", "outcome": outcome, "pooling": pooling, "grades": grades,
          "start": t0, "end": time.time()})
    return FakeResult(outcome=outcome, kind=kind, spec=spec, table=table, diagnostics=diag,
                      pooling=pooling, tree=tree,
                      data=SimpleNamespace(gemeenten=tuple(gemeenten), arms=tuple(arms),
                                           components=tuple(arms)))


def draw_figures_marked(result: Any, figure_dir: Path,
                        formats: tuple[str, ...] = ("png",)) -> list[Path]:
    """Stand-in for ``run.figures.draw_figures``: one tiny file per format that names the
    process that drew it (``drawn-by-<pid>.<ext>``), so a test sees who drew which figures."""
    figure_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in formats:
        p = figure_dir / f"drawn-by-{os.getpid()}.{ext}"
        p.write_bytes(b"fake figure")
        paths.append(p)
    return paths


def install() -> None:
    """Make ``run.job.run_job`` use :func:`fake_fit_meta` in this process."""
    import bayes_bijstand.meta as meta

    meta.fit_meta = fake_fit_meta  # type: ignore[assignment]


def run_job(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """``run.job.run_job`` with the fake fit: importable, so Dask can ship it to workers."""
    install()
    return REAL_RUN_JOB(*args, **kwargs)


# --------------------------------------------------------------------------- test helpers

TINY = ["--draws", "20", "--tune", "20", "--chains", "2", "--compare-pooling", "none",
        "--contributions", "none", "--robustness", "none", "--no-plots", "--no-report", "--quiet"]
"""CLI flags of a small run (the fake ignores the numbers except for array shapes)."""


def cli_env(**extra: str | os.PathLike[str]) -> dict[str, str]:
    """Environment for a CLI subprocess that can ``import bb_fakes`` (set ``BB_FAKE_*`` here)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BB_FAKE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def fake_cli(*args: str) -> list[str]:
    """argv of the CLI with the fake fit: ``python -m bb_fakes ARGS``."""
    return [sys.executable, "-m", "bb_fakes", *args]


def log_entries(path: str | os.PathLike[str], event: str = "fit") -> list[dict[str, Any]]:
    p = Path(path)
    if not p.exists():
        return []
    return [e for e in (json.loads(ln) for ln in p.read_text(encoding="utf-8").splitlines() if ln)
            if e["event"] == event]


def assert_outputs_valid(out: Path) -> None:
    """No visible partial file: every JSON parses, every netCDF opens, every CSV reads."""
    import xarray as xr

    for f in out.rglob("*"):
        if not f.is_file() or f.name.startswith("."):
            continue
        if f.suffix == ".json":
            json.loads(f.read_text(encoding="utf-8"))
        elif f.suffix == ".nc":
            with xr.open_datatree(f, engine="h5netcdf") as t:
                assert "posterior" in t.children, f
        elif f.suffix == ".csv" and f.stat().st_size > 1:
            pd.read_csv(f)


def main(argv: list[str] | None = None) -> int:
    """The real CLI (``bayes_bijstand.fit.main``) with the fake fit installed."""
    install()
    from bayes_bijstand.fit import main as fit_main

    return fit_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
