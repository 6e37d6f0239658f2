"""The robustness refits run inside the main job: planned as jobs of their own roles, run by
the same executor, written to summary.json, robustness_loo.csv and multiverse.csv, and
resumed like every fit. Uses the fake fit (``bb_fakes``): this checks the pipeline, not the
sampler (the refits call the production ``fit_meta`` through ``run.job.start_job``)."""

from __future__ import annotations

import json
from pathlib import Path

import bb_fakes
import pandas as pd
import pytest

from bayes_bijstand import fit


@pytest.fixture
def fake_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    import bayes_bijstand.meta as meta
    from bayes_bijstand.run import refits

    monkeypatch.setattr(meta, "fit_meta", bb_fakes.fake_fit_meta)
    keep = ("bias_sd_x2", "priors_x2", "no_coach_component")  # a few variants keep it cheap
    monkeypatch.setattr(refits, "VARIANTS", tuple(v for v in refits.VARIANTS if v.name in keep))
    for k in ("BB_FAKE_SLEEP", "BB_FAKE_HANG_IN_WRITE", "BB_FAKE_FAIL", "BB_FAKE_LOG"):
        monkeypatch.delenv(k, raising=False)


def _args(out: Path, *extra: str) -> list[str]:
    tiny = list(bb_fakes.TINY)
    i = tiny.index("--robustness")
    del tiny[i:i + 2]
    return ["--outcome", "work_gt12h", *tiny, "--out", str(out), *extra]


def test_refits_are_jobs_of_the_run(tmp_path: Path, fake_fit: None,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("BB_FAKE_LOG", str(log))
    assert fit.main(_args(out)) == 0  # a run of chosen outcomes: no refits by default
    s = json.loads((out / "summary.json").read_text())
    assert "robustness" not in s and not (out / "multiverse.csv").exists()

    assert fit.main(_args(out, "--robustness", "headline")) == 0
    s = json.loads((out / "summary.json").read_text())
    roles = {f["role"] for f in s["fits"].values()}
    assert {"main", "loo", "variant"} <= roles
    assert s["fits"]["work_gt12h.without-groningen"]["gemeenten"] == ["nijmegen"]
    # a refit's numbers live in the robustness section only (summary.json stays lean)
    assert s["fits"]["work_gt12h.without-groningen"]["pooled"] == []
    assert s["fits"]["work_gt12h"]["pooled"]
    rob = s["robustness"]
    assert rob["outcomes"] == ["work_gt12h"] and not rob["failed"]
    loo = pd.read_csv(out / "robustness_loo.csv", keep_default_na=False)
    assert set(loo["left_out"]) == {"", "groningen", "nijmegen"}
    multi = pd.read_csv(out / "multiverse.csv")
    assert multi["variant"].iloc[0] == "baseline"
    same = multi[multi["note"].astype(str).str.startswith("no row or prior")]
    assert len(same) and set(same["variant"]) >= {"bias_sd_x2"}
    base = multi[multi["variant"] == "baseline"].set_index("arm")["mean"]
    assert (same.set_index("arm")["mean"].groupby(level=0).first() == base).all()
    # the main fit was resumed; each refit ran once, and a rerun resumes all of them
    fits_before = [e for e in bb_fakes.log_entries(log) if e["event"] == "fit"]
    assert fit.main(_args(out, "--robustness", "headline")) == 0
    assert [e for e in bb_fakes.log_entries(log) if e["event"] == "fit"] == fits_before
    # a run without refits removes the tables of an earlier one from its directory
    assert fit.main(_args(out, "--robustness", "none")) == 0
    assert not (out / "robustness_loo.csv").exists() and not (out / "multiverse.csv").exists()
