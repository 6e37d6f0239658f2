"""The local executor's figure process, and the drain after the last fit.

Fits run in this process and their figures in one spawned process. When the last fit is
done, this process is idle, so it takes back the figure jobs still queued and draws them
itself (from the back of the queue) while the worker finishes the front one. The fits are
the fast fakes (``bb_fakes``); the figures are stand-ins that name the process that drew
them, so the split is observed, not assumed.
"""

from __future__ import annotations

import os
from pathlib import Path

import bb_fakes
import pytest

from bayes_bijstand import fit
from bayes_bijstand.run import executors, figures, plan_fits

OUTCOMES = ("work_gt12h", "social_trust", "work_gt8h", "job_applications")


def test_main_process_draws_the_queued_figures_after_the_last_fit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bayes_bijstand.meta as meta

    monkeypatch.delenv("BB_FAKE_SLEEP", raising=False)
    monkeypatch.delenv("BB_FAKE_FAIL", raising=False)
    monkeypatch.setattr(meta, "fit_meta", bb_fakes.fake_fit_meta)
    # A module-level function, so the spawned figure process can run it too.
    monkeypatch.setattr(figures, "draw_figures", bb_fakes.draw_figures_marked)
    monkeypatch.setattr(executors, "available_cores", lambda: 2)
    opts = fit.parse_options(["--outcome", *OUTCOMES, "--draws", "20", "--tune", "20",
                              "--chains", "2", "--compare-pooling", "none", "--contributions",
                              "none", "--no-report", "--quiet", "--svg", "--out", str(tmp_path)])
    cfg = opts.run_config()
    plan = plan_fits(cfg)
    assert [j.outcome for j in plan.jobs] == list(OUTCOMES)
    records = executors.run_locally(plan, cfg, fit._progress(len(plan.jobs), True, ""))

    assert [r["name"] for r in records] == list(OUTCOMES)
    here = f"drawn-by-{os.getpid()}"
    drawers = {}
    for r in records:
        # Every record lists its figures (both formats, as asked) and they exist.
        files = [tmp_path / f for f in r["figures"]]
        assert sorted(p.suffix for p in files) == [".png", ".svg"]
        assert all(p.is_file() for p in files)
        drawers[r["name"]] = files[0].stem
    # The fake fits are instant, so when they are done the figure process (still starting
    # up) has taken at most two jobs (the pool hands a worker one job beyond the one it
    # runs); the others are taken back and drawn here, the last job first.
    assert drawers[OUTCOMES[-1]] == here
    assert sum(d == here for d in drawers.values()) >= len(OUTCOMES) - 2
