"""The batch run behind ``fit --all-gemeenten``: plan the fits, run them (resumable), collect.

Each fit is an independent job (outcome x pooling mode x evidence-grade subset). A job writes
its netCDF, figures and a small JSON record atomically into ``OUT/fits/``; the record carries
a content hash of everything that determines the fit (evidence rows, spec text, sampler
settings, package version), so an interrupted run resumes by skipping jobs whose record
matches. One module per job of the run:

* :mod:`.config`     :class:`RunConfig`, the typed, frozen settings of a run, and the
  :class:`Progress` protocol a progress bar satisfies;
* :mod:`.plan`       which fits to run (:func:`plan_fits` -> :class:`Plan` of :class:`Job`);
* :mod:`.job`        one fit: netCDF, then figures, then its record (:func:`run_job`);
* :mod:`.records`    the one schema of ``fits/<name>.json`` (:class:`FitRecord`);
* :mod:`.figures`    a finished fit's figures, drawn in a separate process while the next
  fit samples (:class:`FigureProcess`);
* :mod:`.executors`  run the jobs of a plan: locally or on Dask;
* :mod:`.aggregate`  ``summary.json`` and the municipality table;
* :mod:`.tables`     the CSV tables (pooling comparison, grade contributions, ...);
* :mod:`.markdown`   ``summary.md``;
* :mod:`.runner`     :func:`run_plan`: executors -> aggregate -> tables -> report.

Failed fits are reported and excluded from the pooled overview. Nothing here imports PyMC or
ArviZ at import time, so planning (and ``--dry-run``, and every bad-input exit) stays fast.
"""

from __future__ import annotations

from .config import Progress, RunConfig
from .plan import HEADLINE, Job, Plan, plan_fits
from .runner import run_plan

__all__ = ["HEADLINE", "Job", "Plan", "Progress", "RunConfig", "plan_fits", "run_plan"]
