"""The run behind ``fit --all-gemeenten``: plan the fits, run them (resumable), collect.

Each fit is an independent job (outcome x pooling mode x evidence-grade subset). A job writes
its netCDF, figures and a small JSON record atomically into ``OUT/fits/``; the record carries
a content hash of everything that determines the fit (evidence rows, spec text, sampler
settings, package version), so an interrupted run resumes by skipping jobs whose record
matches. Jobs run one after another (the figures of a finished fit are drawn in a separate
process while the next fit samples, :class:`FigureProcess`), or on Dask (``--executor
dask``). Aggregation then
writes ``summary.json``, the CSV/Markdown tables and the report. Failed fits are reported
and excluded from the pooled overview.
"""

from __future__ import annotations

import contextlib
import json
import logging
import platform
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import __version__
from .constants import FIGURE_FORMATS
from .errors import InputError
from .evidence.load import evidence_hash, load_evidence
from .evidence.registry import load_studies
from .io import atomic_write_json, atomic_write_text, remove_stale_temp_files, sha256_file
from .specs import ModelSpec, default_spec_path, load_spec

HEADLINE = ("work_gt8h", "work_gt12h", "social_trust")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    outcome: str
    pooling: str
    grades: tuple[str, ...] | None
    role: str  # main | pooling | contribution
    dropped_grade: str = ""


@dataclass
class Plan:
    evidence: pd.DataFrame
    spec: ModelSpec
    jobs: list[Job]
    not_fitted: dict[str, str]
    inputs: dict[str, str]
    resumed: list[str] = field(default_factory=list)  # filled by run_plan
    usable: dict[str, list[str]] = field(default_factory=dict)  # outcome -> gemeenten with used rows


def _spec(opts: Any) -> ModelSpec:
    path = opts.model or default_spec_path()
    spec = load_spec(path)
    return spec.with_overrides(draws=opts.draws, tune=opts.tune, chains=opts.chains,
                               random_seed=opts.seed, sampler=opts.sampler)


def outcome_kind(outcome: str) -> str:
    """``binary`` or ``score`` for an outcome code: the rule of :func:`bayes_bijstand.meta.outcome_kind`.

    Repeated here so that planning (and ``--dry-run``, and every bad-input exit) does not
    import PyMC and ArviZ, which takes seconds; a test keeps the two in agreement.
    """
    from .evidence.load import load_outcomes

    table = load_outcomes().set_index("outcome")
    if outcome in table.index:
        return "binary" if table.loc[outcome, "kind"] == "binary" else "score"
    return "binary"


def _usable(evidence: pd.DataFrame, spec: ModelSpec,
            only: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Outcome -> gemeenten with at least one row that enters the model (``only``: just these)."""
    from .models.selection import select_rows

    out: dict[str, list[str]] = {}
    outcomes = sorted(evidence["outcome"].unique())
    if only:
        outcomes = [o for o in outcomes if o in set(only)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for o in outcomes:
            t = select_rows(evidence, o, outcome_kind(o), spec)
            used = t[t["used"]] if len(t) else t
            if len(used):
                out[o] = sorted(used["gemeente"].unique())
    return out


def plan_fits(opts: Any) -> Plan:
    """Decide which fits to run, from the options and the evidence."""
    spec = _spec(opts)
    evidence = load_evidence(opts.estimates) if opts.estimates else load_evidence()
    # Paths as the user gave them (the shipped spec relative to the repository), so that the
    # same inputs give the same summary.json in any checkout; the hashes identify the content.
    spec_path = str(opts.model) if opts.model else f"models/{Path(spec.path).name}"
    inputs = {"evidence_sha256": evidence_hash(evidence), "spec_path": spec_path,
              "spec_sha256": sha256_file(spec.path) if spec.path else ""}
    if opts.estimates:
        inputs["estimates_file"] = str(opts.estimates)
        inputs["estimates_sha256"] = sha256_file(opts.estimates)
    if opts.gemeenten:
        unknown = sorted(set(opts.gemeenten) - set(evidence["gemeente"]))
        if unknown:
            raise InputError("--gemeente", f"no evidence for '{unknown[0]}' (known: "
                             f"{', '.join(sorted(evidence['gemeente'].unique()))})")
        evidence = evidence[evidence["gemeente"].isin(opts.gemeenten)]
    if opts.arms:
        evidence = evidence[evidence["arm"].isin(opts.arms)]
    usable = _usable(evidence, spec, tuple(opts.outcomes))
    not_fitted: dict[str, str] = {}
    if opts.outcomes:
        missing = [o for o in opts.outcomes if o not in usable]
        if missing:
            raise InputError("--outcome", f"no usable evidence for '{missing[0]}'")
        outcomes = list(opts.outcomes)
    else:
        need = opts.min_gemeenten if len(set(evidence["gemeente"])) > 1 else 1
        outcomes = [o for o, g in usable.items() if len(g) >= need]
        for o, g in usable.items():
            if len(g) < need:
                not_fitted[o] = f"evidence from {len(g)} municipality ({', '.join(g)}): nothing to pool"
        if not outcomes:
            raise InputError(str(opts.estimates or "evidence"), "no outcome has usable evidence")
    if spec.outcomes != "all":
        outcomes = [o for o in outcomes if o in spec.outcomes]
    jobs = [Job(name=o, outcome=o, pooling=spec.pooling, grades=None, role="main") for o in outcomes]
    sel = {"headline": [o for o in outcomes if o in HEADLINE], "all": outcomes, "none": []}
    for o in sel[opts.compare_pooling]:
        for mode in ("none", "full"):
            if mode != spec.pooling:
                jobs.append(Job(name=f"{o}.pooling-{mode}", outcome=o, pooling=mode, grades=None,
                                role="pooling"))
    for o in sel[opts.contributions]:
        grades_here = _grades_used(evidence, spec, o)
        if len(grades_here) < 2:
            continue
        for g in grades_here:
            keep = tuple(x for x in spec.grades if x != g)
            jobs.append(Job(name=f"{o}.without-{g}", outcome=o, pooling=spec.pooling, grades=keep,
                            role="contribution", dropped_grade=g))
    return Plan(evidence=evidence, spec=spec, jobs=jobs, not_fitted=not_fitted, inputs=inputs,
                usable=usable)


def _grades_used(evidence: pd.DataFrame, spec: ModelSpec, outcome: str) -> list[str]:
    from .evidence.grades import GRADES
    from .models.selection import select_rows

    t = select_rows(evidence, outcome, outcome_kind(outcome), spec)
    return [g for g in GRADES if g in set(t.loc[t["used"], "grade"])]


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    df = df.replace({np.nan: None})
    return json.loads(df.to_json(orient="records", double_precision=10))


def available_cores() -> int:
    """CPUs this process may use (affinity-aware), at most 4: one per chain of the default spec."""
    import os

    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 4))


@dataclass
class Started:
    """A job after its fit: the record still lacks its figures (and is not written yet)."""

    job: Job
    record: dict[str, Any]
    rec_path: Path
    result: Any = None  # the MetaResult; None for a resumed job
    figure_dir: Path | None = None  # where its figures go; None: no figures for this job
    formats: tuple[str, ...] = FIGURE_FORMATS  # figure file formats (``fit --svg`` adds svg)


def start_job(job: Job, evidence: pd.DataFrame, spec: ModelSpec, out: Path, *,
              plots: bool = True, resume: bool = True,
              inputs: dict[str, str] | None = None, cores: int | None = None,
              formats: tuple[str, ...] = FIGURE_FORMATS) -> Started:
    """Fit one job and write its netCDF (atomic); figures and the record come after.

    With ``resume`` a job whose record in ``OUT/fits/`` carries the same ``fit_key`` (a
    content hash of its evidence rows, spec text, sampler settings and package version) and
    whose netCDF exists is not refitted: its record is returned with ``resumed: True``.
    ``inputs`` (hashes of the run's input files) is stored in the record and netCDF attrs.
    ``cores``: parallel chains (default: the CPUs this process may use, at most 4; a Dask
    worker passes 1 because the workers already fill the machine). ``formats``: the figure
    file formats (see :data:`bayes_bijstand.plots.FORMATS`).
    """
    from .meta import fit_key, fit_meta, outcome_label

    fits = out / "fits"
    key = fit_key(evidence, spec, job.outcome, job.pooling, job.grades)
    rec_path = fits / f"{job.name}.json"
    nc_path = fits / f"{job.name}.nc"
    if resume and rec_path.exists() and nc_path.exists():
        try:
            rec = json.loads(rec_path.read_text(encoding="utf-8"))
            if isinstance(rec, dict) and rec.get("fit_key") == key:
                rec["resumed"] = True
                return Started(job=job, record=rec, rec_path=rec_path)
        except (json.JSONDecodeError, OSError, UnicodeDecodeError):
            pass
    res = fit_meta(evidence, spec, job.outcome, pooling=job.pooling, grades=job.grades,
                   cores=cores or available_cores())
    versions = _versions()
    res.tree.attrs["fit_key"] = key  # type: ignore[attr-defined]
    res.tree.attrs["run_inputs"] = json.dumps(inputs or {}, sort_keys=True)  # type: ignore[attr-defined]
    res.tree.attrs["run_versions"] = json.dumps(versions, sort_keys=True)  # type: ignore[attr-defined]
    res.tree.attrs["run_seed"] = str(spec.sampler.random_seed)  # type: ignore[attr-defined]
    res.to_netcdf(nc_path)
    en, nl = outcome_label(job.outcome)
    rec = {
        "name": job.name, "outcome": job.outcome, "pooling": job.pooling, "role": job.role,
        "dropped_grade": job.dropped_grade, "grades": list(job.grades or spec.grades),
        "fit_key": key, "status": res.diagnostics.status,
        "diagnostics": res.diagnostics.to_dict(), "kind": res.kind, "unit": res.unit,
        "display_factor": res.display_factor, "label_en": en, "label_nl": nl,
        "mid": res.mid(), "n_rows_used": int(res.table["used"].sum()),
        "n_rows_total": len(res.table), "gemeenten": list(res.data.gemeenten),
        "components": list(res.data.components), "arms": list(res.data.arms),
        "netcdf": str(nc_path.relative_to(out)), "figures": [],
        "pooled": _records(res.summary(all_rows=True)),
        "gemeente_effects": _records(res.gemeenten()),
        "i2": _records(res.i2()),
        "evidence": _records(res.table),
        "seed": spec.sampler.random_seed, "versions": versions, "inputs": dict(inputs or {}),
        "resumed": False,
    }
    fig_dir = out / "figures" / job.outcome if plots and job.role == "main" else None
    return Started(job=job, record=rec, rec_path=rec_path, result=res, figure_dir=fig_dir,
                   formats=tuple(formats))


def draw_figures(result: Any, figure_dir: Path,
                 formats: tuple[str, ...] = FIGURE_FORMATS) -> list[Path]:
    """Every figure of one fitted outcome (``[]`` where plotting is not installed)."""
    try:
        from .plots import make_figures
    except ImportError:
        return []
    return make_figures(result, figure_dir, formats=formats)


def finish_job(started: Started, out: Path, figures: list[Path]) -> dict[str, Any]:
    """Write the job record, last: its presence means the netCDF and figures are complete."""
    rec = started.record
    if rec.get("resumed"):
        return rec
    rec["figures"] = [str(Path(p).relative_to(out)) for p in figures]
    atomic_write_json(started.rec_path, rec)
    return rec


def run_job(job: Job, evidence: pd.DataFrame, spec: ModelSpec, out: Path, *,
            plots: bool = True, resume: bool = True,
            inputs: dict[str, str] | None = None, cores: int | None = None,
            formats: tuple[str, ...] = FIGURE_FORMATS) -> dict[str, Any]:
    """Fit one job and write its netCDF, figures and JSON record (all atomic).

    :func:`start_job`, the figures in this process, then :func:`finish_job`. (The local
    executor instead draws the figures of finished fits in a separate process while the
    next fit samples; see :class:`FigureProcess`.)
    """
    st = start_job(job, evidence, spec, out, plots=plots, resume=resume, inputs=inputs,
                   cores=cores, formats=formats)
    figures = [] if st.figure_dir is None else draw_figures(st.result, st.figure_dir, st.formats)
    return finish_job(st, out, figures)


def _warm_figure_worker() -> None:
    """Import the plotting stack in a figure worker (while the main process compiles)."""
    with contextlib.suppress(ImportError):
        from . import meta, plots  # noqa: F401


class FigureProcess:
    """Draws the figures of finished fits in one separate process while the next fit samples.

    Matplotlib is single-threaded and a fit's figures take longer than its sampling, so on
    a machine with at least two CPUs drawing them beside the sampler shortens the run (a
    second figure process gave the same wall time on 2 cores for 8% more CPU). After the
    last fit the main process takes back the figures still queued (``_execute``). The process
    is started with ``spawn`` (the sampler's threads make ``fork`` unsafe) and imports the
    plotting stack right away, while the main process compiles the model. If it cannot be
    started or dies, the figures are drawn in this process instead: the run gets the same
    files either way.
    """

    def __init__(self, enabled: bool) -> None:
        self._pool: Any = None
        if enabled:
            import concurrent.futures as cf
            import multiprocessing as mp

            try:
                self._pool = cf.ProcessPoolExecutor(max_workers=1,
                                                    mp_context=mp.get_context("spawn"))
                self._pool.submit(_warm_figure_worker)
            except (OSError, ValueError) as exc:  # pragma: no cover - no processes allowed
                log.warning("figures drawn in the main process (%s)", exc)
                self._pool = None

    def submit(self, started: Started) -> Any:
        """A future of the figure paths (or the paths themselves, drawn here)."""
        if self._pool is not None:
            try:
                return self._pool.submit(draw_figures, started.result, started.figure_dir,
                                         started.formats)
            except Exception as exc:  # noqa: BLE001 - broken pool or unpicklable result
                log.warning("figure process unavailable (%s); drawing here", exc)
                self.close()
        return draw_figures(started.result, started.figure_dir, started.formats)

    def take_back(self, pending: Any) -> bool:
        """Cancel a figure job the worker has not started; True: the caller draws it."""
        return not isinstance(pending, list) and pending.cancel()

    def result(self, started: Started, pending: Any) -> list[Path]:
        if isinstance(pending, list):
            return pending
        try:
            return list(pending.result())
        except Exception as exc:  # noqa: BLE001 - the worker died: draw them here
            log.warning("figure process failed (%s: %s); drawing here", type(exc).__name__, exc)
            self.close()
            return draw_figures(started.result, started.figure_dir, started.formats)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> FigureProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _execute(plan: Plan, opts: Any, progress: Any, client: Any = None) -> list[dict[str, Any]]:
    out = Path(opts.out)
    if opts.executor == "dask":
        from .scaleout import run_on_dask

        return run_on_dask(plan, opts, progress, client=client)
    records: list[dict[str, Any] | None] = [None] * len(plan.jobs)
    pending: list[tuple[int, Started, Any]] = []
    parallel = bool(opts.plots) and available_cores() >= 2 and \
        any(j.role == "main" for j in plan.jobs)
    with FigureProcess(parallel) as figs:
        for i, job in enumerate(plan.jobs):
            progress.set_postfix_str(job.name)
            st = start_job(job, plan.evidence, plan.spec, out, plots=opts.plots,
                           resume=opts.resume, inputs=plan.inputs, formats=opts.figure_formats)
            if st.figure_dir is None:
                records[i] = finish_job(st, out, [])
            else:
                pending.append((i, st, figs.submit(st)))
            progress.update(1)
            # Records of fits whose figures are done are written now, not at the end, so an
            # interrupted run keeps (and resumes past) them.
            still = []
            for i2, st2, fut in pending:
                if isinstance(fut, list) or fut.done():
                    records[i2] = finish_job(st2, out, figs.result(st2, fut))
                else:
                    still.append((i2, st2, fut))
            pending = still
        # Drain: after the last fit this process is free, so it draws the figures still
        # queued itself, from the back of the queue, while the worker finishes the front.
        waiting = []
        for i, st, fut in reversed(pending):
            if figs.take_back(fut):
                records[i] = finish_job(st, out, draw_figures(st.result, st.figure_dir,
                                                              st.formats))
            else:
                waiting.append((i, st, fut))
        for i, st, fut in reversed(waiting):
            records[i] = finish_job(st, out, figs.result(st, fut))
    return [r for r in records if r is not None]


def clean_stale_temp_files(out: Path) -> list[Path]:
    """Remove temp files an interrupted (SIGKILLed) run left in the output locations.

    Only ``OUT/``, ``OUT/fits/`` and ``OUT/figures/**`` are searched, and only names of the
    :func:`~bayes_bijstand.io.atomic_path` pattern (``.<name>.*.tmp``) and, under
    ``figures/``, of ``plots.save_figure`` (``.<stem>.<random>.png|svg``) are removed, so a
    careless ``--out .`` cannot delete anything else.
    """
    removed = remove_stale_temp_files(out)
    removed += remove_stale_temp_files(out / "fits")
    removed += remove_stale_temp_files(out / "figures", recursive=True)
    # plots.save_figure names its temp files .<stem>.<8 random chars>.<png|svg> (mkstemp).
    figures = out / "figures"
    if figures.is_dir():
        for f in sorted(figures.rglob(".*")):
            if f.is_file() and _FIGURE_TEMP.match(f.name):
                f.unlink(missing_ok=True)
                removed.append(f)
    return removed


_FIGURE_TEMP = re.compile(r"^\..+\.[a-z0-9_]{8}\.(png|svg|pdf)$")


def run_plan(plan: Plan, opts: Any, progress: Any) -> dict[str, Any]:
    """Run all jobs and write the run-level outputs; returns the summary dict."""
    out = Path(opts.out)
    with contextlib.ExitStack() as stack:
        client = None
        if opts.executor == "dask":  # connect first: an unreachable scheduler writes nothing
            from .scaleout import dask_client

            client = stack.enter_context(dask_client(opts))
        out.mkdir(parents=True, exist_ok=True)
        stale = clean_stale_temp_files(out)
        if stale:
            log.info("removed %d temporary file(s) left by an interrupted run", len(stale))
        records = _execute(plan, opts, progress, client)
    plan.resumed = [r["name"] for r in records if r.get("resumed")]
    summary = aggregate(records, plan, opts)
    write_tables(summary, records, out)
    if opts.report:
        try:
            from .report import write_report

            write_report(out, out / "report.html")
        except ImportError:
            pass
    return summary


def _versions() -> dict[str, str]:
    """Versions of Python and the packages that determine a fit (recorded in every output)."""
    import h5netcdf
    import scipy
    import xarray

    from .meta import _versions as v

    out = dict(v())
    out.update(python=platform.python_version(), scipy=scipy.__version__,
               xarray=xarray.__version__, h5netcdf=h5netcdf.__version__)
    return dict(sorted(out.items()))


def municipality_table(records: list[dict[str, Any]], plan: Plan, opts: Any,
                       studies: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per registry municipality: what the run used from it, and why if nothing.

    Every municipality in the registry is listed, also one that contributes no row (Apeldoorn/
    Epe: the public sources give its size but no effect estimate), so that a reader sees what
    is missing and why rather than a municipality that silently does not appear.
    """
    main = [r for r in records if r["role"] == "main"]
    names = load_studies(keep_secondary=True)
    names = names[names["name"].fillna("").astype(str).str.strip() != ""].groupby("gemeente")["name"].first()
    in_evidence = plan.evidence["gemeente"].value_counts()
    sources = plan.evidence.groupby("gemeente")["source"].unique() if len(plan.evidence) else {}
    selected = set(getattr(opts, "gemeenten", None) or [])
    rows = []
    for _, s in studies.iterrows():
        g = s["gemeente"]
        pooled = sorted(r["outcome"] for r in main if g in r["gemeenten"] and r["status"] == "passed")
        failed = sorted(r["outcome"] for r in main if g in r["gemeenten"] and r["status"] != "passed")
        used = sum(1 for r in main for e in r["evidence"] if e["gemeente"] == g and e["used"])
        alone = sorted(o for o in plan.not_fitted if plan.usable.get(o) == [g])
        n_rows = int(in_evidence.get(g, 0))
        if pooled:
            reason = ""
        elif selected and g not in selected:
            reason = "not selected (--gemeente)"
        elif failed:
            reason = "its fits failed the diagnostics: " + ", ".join(failed)
        elif n_rows == 0:
            reason = (f"no effect estimate in the evidence; the registry holds design facts only "
                      f"({s['source']} line {s['line']})")
        elif alone:
            reason = "evidence only for outcomes no other municipality reports: " + ", ".join(alone)
        else:
            reason = f"none of its {n_rows} evidence rows enters a model (see evidence_used.csv)"
        rows.append({
            "gemeente": g, "name": str(names.get(g, "")), "amvb": bool(s["amvb"]),
            "evidence_rows": n_rows,
            "evidence_sources": ";".join(sorted(sources[g])) if g in sources else "",
            "rows_used": used, "outcomes_pooled": len(pooled),
            "outcomes": ";".join(pooled), "outcomes_single_municipality": ";".join(alone),
            "reason_none": reason,
        })
    return rows


def aggregate(records: list[dict[str, Any]], plan: Plan, opts: Any) -> dict[str, Any]:
    """The run's ``summary.json``: per fit its status, diagnostics and pooled effects."""
    main = {r["outcome"]: r for r in records if r["role"] == "main"}
    studies = load_studies()
    coverage = {}
    for g in studies["gemeente"]:
        outs = sorted(o for o, r in main.items() if g in r["gemeenten"])
        coverage[g] = outs
    fits = {}
    for r in records:
        fits[r["name"]] = {
            "outcome": r["outcome"], "role": r["role"], "pooling": r["pooling"],
            "status": r["status"], "diagnostics": r["diagnostics"], "kind": r["kind"],
            "unit": r["unit"], "label_en": r["label_en"], "label_nl": r["label_nl"],
            "gemeenten": r["gemeenten"], "n_rows_used": r["n_rows_used"],
            "netcdf": r["netcdf"],
            "pooled": [p for p in r["pooled"] if p["parameter"] in ("mu", "tau", "mu_arm",
                                                                    "theta_new", "tau_arm")]
            if r["status"] == "passed" else [],
            "excluded_reason": "" if r["status"] == "passed" else
            "failed diagnostics: " + "; ".join(r["diagnostics"].get("problems", [])),
        }
    return {
        "package": "bayes_bijstand", "version": __version__, "versions": _versions(),
        "seed": plan.spec.sampler.random_seed, "model_spec": plan.spec.name,
        "sampler": {"draws": plan.spec.sampler.draws, "tune": plan.spec.sampler.tune,
                    "chains": plan.spec.sampler.chains, "sampler": plan.spec.sampler.sampler,
                    "target_accept": plan.spec.sampler.target_accept},
        "inputs": plan.inputs, "fits": fits, "not_fitted": plan.not_fitted,
        "municipality_coverage": coverage,
        "municipalities": municipality_table(records, plan, opts, studies),
        "ci": {"prob": 0.9, "kind": "eti"},
    }


def _fmt(x: Any, f: float = 1.0, nd: int = 1) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return ""
    return f"{x * f:.{nd}f}"


def _interval_md(lo: Any, hi: Any, f: float = 1.0) -> str:
    """``[lo, hi]``, or an en dash where there is no interval (no row had a known SE)."""
    a, b = _fmt(lo, f), _fmt(hi, f)
    return f"[{a}, {b}]" if a and b else "\u2013"


def write_tables(summary: dict[str, Any], records: list[dict[str, Any]], out: Path) -> None:
    """summary.json, summary.csv/.md, gemeenten.csv, evidence_used.csv, diagnostics.csv,
    pooling_comparison.csv, grade_contributions.csv, municipalities.csv (all atomic)."""
    atomic_write_json(out / "summary.json", summary)
    main = [r for r in records if r["role"] == "main"]
    passed = [r for r in main if r["status"] == "passed"]  # failed fits are never pooled
    # values are on the model scale (a proportion for binary outcomes): say so, not the
    # display unit ("percentage points") the figures and report use
    pooled = pd.DataFrame([dict(p, label_nl=r["label_nl"],
                                scale="risk_difference" if r["kind"] == "binary" else "smd")
                           for r in passed for p in r["pooled"]])
    atomic_write_text(out / "summary.csv", pooled.to_csv(index=False))
    atomic_write_text(out / "gemeenten.csv", pd.DataFrame(
        [g for r in passed for g in r["gemeente_effects"]]).to_csv(index=False))
    atomic_write_text(out / "evidence_used.csv", pd.DataFrame(
        [dict(e, outcome=r["outcome"]) for r in main for e in r["evidence"]]).to_csv(index=False))
    diag = pd.DataFrame([dict(name=r["name"], outcome=r["outcome"], role=r["role"],
                              **{k: v for k, v in r["diagnostics"].items()
                                 if k not in ("problems", "retry_settings")},
                              problems="; ".join(r["diagnostics"].get("problems", [])))
                         for r in records])
    atomic_write_text(out / "diagnostics.csv", diag.to_csv(index=False))
    atomic_write_text(out / "pooling_comparison.csv", pooling_comparison(records).to_csv(index=False))
    atomic_write_text(out / "grade_contributions.csv", grade_contributions(records).to_csv(index=False))
    atomic_write_text(out / "municipalities.csv",
                      pd.DataFrame(summary["municipalities"]).to_csv(index=False))
    atomic_write_text(out / "summary.md", summary_markdown(summary, records))


def pooling_comparison(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Pooled arm effects under partial, no and full pooling (no pooling: per gemeente)."""
    rows = []
    for r in records:
        if r["role"] not in ("main", "pooling") or r["status"] != "passed":
            continue
        if r["pooling"] == "none":
            for g in r["gemeente_effects"]:
                rows.append({"outcome": r["outcome"], "pooling": "none", "gemeente": g["gemeente"],
                             "arm": g["arm"], "mean": g["mean"], "ci_low": g["ci_low"],
                             "ci_high": g["ci_high"]})
        else:
            for p in r["pooled"]:
                if p["parameter"] == "mu_arm":
                    rows.append({"outcome": r["outcome"], "pooling": r["pooling"], "gemeente": "(pooled)",
                                 "arm": p["label"], "mean": p["mean"], "ci_low": p["ci_low"],
                                 "ci_high": p["ci_high"]})
            if r["pooling"] == "partial":
                for g in r["gemeente_effects"]:
                    rows.append({"outcome": r["outcome"], "pooling": "partial",
                                 "gemeente": g["gemeente"], "arm": g["arm"], "mean": g["mean"],
                                 "ci_low": g["ci_low"], "ci_high": g["ci_high"]})
    return pd.DataFrame(rows)


def grade_contributions(records: list[dict[str, Any]]) -> pd.DataFrame:
    """How much each evidence grade moved the pooled component effects (fit with vs without)."""
    main = {r["outcome"]: r for r in records if r["role"] == "main" and r["status"] == "passed"}
    rows = []
    for r in records:
        if r["role"] != "contribution" or r["outcome"] not in main or r["status"] != "passed":
            continue
        base = {(p["parameter"], p["label"]): p for p in main[r["outcome"]]["pooled"]}
        for p in r["pooled"]:
            if p["parameter"] not in ("mu", "mu_arm"):
                continue
            b = base.get((p["parameter"], p["label"]))
            if b is None:
                continue
            width_with = b["ci_high"] - b["ci_low"]
            width_without = p["ci_high"] - p["ci_low"]
            rows.append({
                "outcome": r["outcome"], "dropped_grade": r["dropped_grade"],
                "parameter": p["parameter"], "label": p["label"],
                "mean_with": b["mean"], "mean_without": p["mean"],
                "shift": b["mean"] - p["mean"],
                "ci_width_with": width_with, "ci_width_without": width_without,
                "ci_width_ratio": width_with / width_without if width_without else None,
                "status_without": r["status"],
            })
    return pd.DataFrame(rows)


def summary_markdown(summary: dict[str, Any], records: list[dict[str, Any]]) -> str:
    """A readable Markdown overview: pooled effects per outcome and arm, diagnostics."""
    lines = ["# bayes_bijstand: pooled effects", "",
             f"Model spec `{summary['model_spec']}`, seed {summary['seed']}, "
             f"{summary['sampler']['chains']} chains x {summary['sampler']['draws']} draws. "
             "Intervals are 90% equal-tailed. Binary outcomes in percentage points, scores in "
             "standardised mean differences (SMD). Frequentist: REML + Knapp-Hartung on the rows "
             "with a known or design-based SE.", ""]
    for r in records:
        if r["role"] != "main":
            continue
        lines += [f"## {r['label_en']} ({r['label_nl']}) - `{r['outcome']}`", "",
                  f"Status: **{r['status']}**; {r['n_rows_used']} of {r['n_rows_total']} rows "
                  f"used; municipalities: {', '.join(r['gemeenten'])}.", ""]
        if r["status"] != "passed":
            lines += ["**Failed diagnostics (after a retry) - excluded from the pooled "
                      "summaries:** " + "; ".join(r["diagnostics"].get("problems", [])), ""]
            continue
        f = r["display_factor"]
        lines += ["| arm | pooled mean | 90% interval | new municipality | P(>0) | tau | "
                  "frequentist | freq. 90% CI | k (freq.) |", "|---|---|---|---|---|---|---|---|---|"]
        pooled = {(p["parameter"], p["label"]): p for p in r["pooled"]}
        for arm in r["arms"]:
            p = pooled.get(("mu_arm", arm))
            if not p:
                continue
            n = pooled.get(("theta_new", arm), {})
            t = pooled.get(("tau_arm", arm), {})
            lines.append(
                f"| {arm} | {_fmt(p['mean'], f)} | [{_fmt(p['ci_low'], f)}, {_fmt(p['ci_high'], f)}] | "
                f"[{_fmt(n.get('ci_low'), f)}, {_fmt(n.get('ci_high'), f)}] | {_fmt(p['prob_gt_0'], 1, 2)} | "
                f"{_fmt(t.get('mean'), f)} | {_fmt(p.get('freq_estimate'), f)} | "
                f"{_interval_md(p.get('freq_ci_low'), p.get('freq_ci_high'), f)} | "
                f"{'' if p.get('freq_k') is None else int(p['freq_k'])} |")
        lines.append("")
    excluded = {k: v for k, v in summary["fits"].items() if v["status"] != "passed"}
    if excluded:
        lines += ["## Excluded fits", "",
                  "These fits failed the diagnostics gate (R-hat, ESS, divergences, E-BFMI) "
                  "after one retry; their numbers are not reported anywhere in the pooled "
                  "summaries.", ""]
        lines += [f"- `{k}`: {v['excluded_reason']}" for k, v in sorted(excluded.items())]
        lines.append("")
    if summary.get("municipalities"):
        lines += ["## Municipalities", "",
                  "Every municipality in the registry, with what this run used from it.", "",
                  "| municipality | AMvB | evidence rows | rows used | outcomes pooled | why none |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {m['gemeente']} | {'yes' if m['amvb'] else 'no'} | {m['evidence_rows']} | "
                  f"{m['rows_used']} | {m['outcomes_pooled']} | {m['reason_none']} |"
                  for m in summary["municipalities"]]
        lines.append("")
    if summary["not_fitted"]:
        lines += ["## Not pooled", ""] + [f"- `{o}`: {why}" for o, why in summary["not_fitted"].items()]
    return "\n".join(lines) + "\n"
