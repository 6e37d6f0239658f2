"""``run_plan``: run a plan's jobs, then write the run-level outputs (summary, tables, report)."""

from __future__ import annotations

import contextlib
import logging
import re
from pathlib import Path
from typing import Any

from ..io import lock_output_dir, remove_stale_temp_files
from .aggregate import aggregate
from .config import Progress, RunConfig
from .executors import dask_client, execute
from .plan import Plan
from .tables import write_tables

log = logging.getLogger(__name__)

_FIGURE_TEMP = re.compile(r"^\..+\.[a-z0-9_]{8}\.(png|svg|pdf)$")


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


def run_plan(plan: Plan, cfg: RunConfig, progress: Progress) -> dict[str, Any]:
    """Run all jobs and write the run-level outputs; returns the summary dict."""
    out = cfg.out
    with contextlib.ExitStack() as stack:
        client = None
        if cfg.executor == "dask":  # connect first: an unreachable scheduler writes nothing
            client = stack.enter_context(dask_client(cfg))
        out.mkdir(parents=True, exist_ok=True)
        # One run per --out: locked before the clean-up, which would otherwise delete the
        # temp files of a run still writing there.
        stack.enter_context(lock_output_dir(out))
        stale = clean_stale_temp_files(out)
        if stale:
            log.info("removed %d temporary file(s) left by an interrupted run", len(stale))
        records = execute(plan, cfg, progress, client)
        plan.resumed = [r["name"] for r in records if r.get("resumed")]
        summary = aggregate(records, plan, cfg)
        write_tables(summary, records, out)
        if cfg.report:
            try:
                from ..report import write_report

                write_report(out, out / "report.html")
            except ImportError:
                pass
    return summary
