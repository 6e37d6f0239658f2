"""One job of a run: fit, write its netCDF, draw its figures, write its record (all atomic)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from ..constants import CI_PROB, FIGURE_FORMATS
from ..evidence.outcomes import outcome_label
from ..io import inside, sha256_file, sha256_text
from ..specs import ModelSpec
from .figures import draw_figures
from .plan import Job
from .records import FitRecord, read_if_current, table_rows, versions, write_record


def available_cores() -> int:
    """CPUs this process may use (affinity-aware), at most 4: one per chain of the default spec."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 4))


@dataclass
class Started:
    """A job after its fit: the record still lacks its figures (and is not written yet)."""

    job: Job
    record: FitRecord
    rec_path: Path
    result: Any = None  # the MetaResult; None for a resumed job
    figure_dir: Path | None = None  # where its figures go; None: no figures for this job
    formats: tuple[str, ...] = FIGURE_FORMATS  # figure file formats (``fit --svg`` adds svg)


def start_job(job: Job, evidence: pd.DataFrame, spec: ModelSpec, out: Path, *,
              plots: bool = True, resume: bool = True,
              inputs: dict[str, str] | None = None, cores: int | None = None,
              formats: tuple[str, ...] = FIGURE_FORMATS, ci_prob: float = CI_PROB) -> Started:
    """Fit one job and write its netCDF (atomic); figures and the record come after.

    With ``resume`` a job whose record in ``OUT/fits/`` carries the same ``fit_key`` (a
    content hash of its evidence rows, spec text, sampler settings and package version) and
    whose netCDF exists is not refitted: its record is returned with ``resumed: True``.
    ``inputs`` (hashes of the run's input files) is stored in the record and netCDF attrs.
    ``cores``: parallel chains (default: the CPUs this process may use, at most 4; a Dask
    worker passes 1 because the workers already fill the machine). ``formats``: the figure
    file formats (see :data:`bayes_bijstand.plots.FORMATS`). ``ci_prob``: the interval level
    of the record's tables, the figures and the twin (part of the resume key unless 90%).
    """
    from ..meta import fit_key, fit_meta
    from .refits import REFIT_ROLES, job_inputs

    refit = job.role in REFIT_ROLES
    if refit:  # the evidence without one municipality, or the spec under one variant
        evidence, spec = job_inputs(job.role, job.outcome, job.left_out, job.variant, evidence,
                                    spec, job.refit_draws)
    key = fit_key(evidence, spec, job.outcome, job.pooling, job.grades)
    if refit:  # a variant changes the spec, not its source text: its fields enter the key
        key = sha256_text(f"{key}|{job.role}|{job.left_out}|{job.variant}|"
                          f"{replace(spec, source_text='', path='')!r}")[:16]
    if ci_prob != CI_PROB:  # the default level keeps the keys (and summary.json) of before
        key = sha256_text(f"{key}|ci_prob={ci_prob!r}")[:16]
    # Names come from validated codes (no '/', '.' or '..'); inside() is the last check that
    # nothing is written outside --out.
    rec_path = inside(out, "fits", f"{job.name}.json")
    nc_path = inside(out, "fits", f"{job.name}.nc")
    if resume:
        old = read_if_current(rec_path, nc_path, key)
        if old is not None:
            old["resumed"] = True
            return Started(job=job, record=old, rec_path=rec_path)
    # Refits draw no predictive samples: their tables need the posterior only.
    res = fit_meta(evidence, spec, job.outcome, pooling=job.pooling, grades=job.grades,
                   cores=cores or available_cores(), ci_prob=ci_prob,
                   **({"prior_predictive": False, "posterior_predictive": False} if refit else {}))
    vers = versions()
    res.tree.attrs["fit_key"] = key  # type: ignore[attr-defined]
    res.tree.attrs["run_inputs"] = json.dumps(inputs or {}, sort_keys=True)  # type: ignore[attr-defined]
    res.tree.attrs["run_versions"] = json.dumps(vers, sort_keys=True)  # type: ignore[attr-defined]
    res.tree.attrs["run_seed"] = str(spec.sampler.random_seed)  # type: ignore[attr-defined]
    if refit:  # the stored spec text is the run's; say what this refit changed
        res.tree.attrs["robustness_refit"] = json.dumps(  # type: ignore[attr-defined]
            {"role": job.role, "left_out": job.left_out, "variant": job.variant,
             "draws": spec.sampler.draws}, sort_keys=True)
    res.to_netcdf(nc_path)
    en, nl = outcome_label(job.outcome)
    rec: FitRecord = {
        "name": job.name, "outcome": job.outcome, "pooling": job.pooling, "role": job.role,
        "dropped_grade": job.dropped_grade, "left_out": job.left_out, "variant": job.variant,
        "grades": list(job.grades or spec.grades),
        "fit_key": key, "status": res.diagnostics.status,
        "diagnostics": res.diagnostics.to_dict(), "kind": res.kind, "unit": res.unit,
        "display_factor": res.display_factor, "label_en": en, "label_nl": nl,
        "mid": res.mid(), "n_rows_used": int(res.table["used"].sum()),
        "n_rows_total": len(res.table), "gemeenten": list(res.data.gemeenten),
        "components": list(res.data.components), "arms": list(res.data.arms),
        "netcdf": str(nc_path.relative_to(out)), "netcdf_bytes": nc_path.stat().st_size,
        "netcdf_sha256": sha256_file(nc_path), "figures": [],
        "pooled": table_rows(res.summary(all_rows=True)),
        "gemeente_effects": table_rows(res.gemeenten()),
        "i2": table_rows(res.i2()),
        "coach": table_rows(res.coach()),
        "evidence": table_rows(res.table),
        "seed": spec.sampler.random_seed, "sampler": str(res.tree.attrs.get("sampler", "")),
        "versions": vers, "inputs": dict(inputs or {}),
        "resumed": False,
    }
    fig_dir = inside(out, "figures", job.outcome) if plots and job.role == "main" else None
    return Started(job=job, record=rec, rec_path=rec_path, result=res, figure_dir=fig_dir,
                   formats=tuple(formats))


def finish_job(started: Started, out: Path, figures: list[Path]) -> FitRecord:
    """Write the job record, last: its presence means the netCDF and figures are complete."""
    rec = started.record
    if rec.get("resumed"):
        return rec
    rec["figures"] = [str(Path(p).relative_to(out)) for p in figures]
    write_record(started.rec_path, rec)
    return rec


def run_job(job: Job, evidence: pd.DataFrame, spec: ModelSpec, out: Path, *,
            plots: bool = True, resume: bool = True,
            inputs: dict[str, str] | None = None, cores: int | None = None,
            formats: tuple[str, ...] = FIGURE_FORMATS, ci_prob: float = CI_PROB) -> FitRecord:
    """Fit one job and write its netCDF, figures and JSON record (all atomic).

    :func:`start_job`, the figures in this process, then :func:`finish_job`. (The local
    executor instead draws the figures of finished fits in a separate process while the
    next fit samples; see :class:`~bayes_bijstand.run.figures.FigureProcess`.)
    """
    st = start_job(job, evidence, spec, out, plots=plots, resume=resume, inputs=inputs,
                   cores=cores, formats=formats, ci_prob=ci_prob)
    figures = [] if st.figure_dir is None else draw_figures(st.result, st.figure_dir, st.formats)
    return finish_job(st, out, figures)
