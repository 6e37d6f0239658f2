"""Every registry municipality appears in the output, with what was used from it and why not.

The issue's "every municipality in the registry appears in the output" must hold also for a
municipality that contributes nothing (Apeldoorn/Epe: the public sources give only its size),
and the reason must be stated, with its source line. Uses the fake fit (``bb_fakes``): this
checks the pipeline's tables, not the sampler.
"""

from __future__ import annotations

import json
from pathlib import Path

import bb_fakes
import pandas as pd
import pytest

from bayes_bijstand import fit
from bayes_bijstand.evidence.registry import load_studies
from bayes_bijstand.run.markdown import _interval_md


@pytest.fixture
def fake_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    import bayes_bijstand.meta as meta

    monkeypatch.setattr(meta, "fit_meta", bb_fakes.fake_fit_meta)
    for k in ("BB_FAKE_SLEEP", "BB_FAKE_HANG_IN_WRITE", "BB_FAKE_FAIL", "BB_FAKE_LOG"):
        monkeypatch.delenv(k, raising=False)


def _run(out: Path, *extra: str) -> None:
    tiny = [a for a in bb_fakes.TINY if a != "--no-report"]  # the report is checked too
    assert fit.main(["--all-gemeenten", *tiny, "--out", str(out), *extra]) == 0


def test_every_registry_municipality_is_listed_with_its_use(tmp_path: Path, fake_fit: None) -> None:
    out = tmp_path / "out"
    _run(out)
    registry = sorted(load_studies()["gemeente"])
    table = pd.read_csv(out / "municipalities.csv", keep_default_na=False)
    assert sorted(table["gemeente"]) == registry
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert [m["gemeente"] for m in summary["municipalities"]] == list(table["gemeente"])
    rows = table.set_index("gemeente")
    # The counts agree with the per-outcome coverage and with evidence_used.csv.
    used = pd.read_csv(out / "evidence_used.csv")
    for g in registry:
        assert rows.loc[g, "outcomes_pooled"] == len(summary["municipality_coverage"][g]), g
        assert rows.loc[g, "rows_used"] == int(used.loc[used["gemeente"] == g, "used"].sum()), g
    # A municipality that contributes nothing says why, and where that comes from.
    ap = rows.loc["apeldoorn_epe"]
    assert ap["evidence_rows"] == 0 and ap["outcomes_pooled"] == 0
    assert "no effect estimate" in ap["reason_none"] and "secondary_sources.md line 22" in ap["reason_none"]
    # Every contributing municipality has no reason and at least one used row.
    for g in registry:
        if rows.loc[g, "outcomes_pooled"]:
            assert rows.loc[g, "reason_none"] == "" and rows.loc[g, "rows_used"] > 0, g
    assert rows.loc["utrecht", "name"] == "Weten wat werkt (with Zeist)"  # secondary-source name
    # Groningen's outcomes that no other city reports are named, not silently dropped.
    assert "work_gt32h" in rows.loc["groningen", "outcomes_single_municipality"].split(";")
    md = (out / "summary.md").read_text(encoding="utf-8")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "## Municipalities" in md and "id='municipalities-table'" in html
    for g in registry:
        assert f"| {g} |" in md, g
    assert "Apeldoorn/Epe" in html


def test_a_municipality_left_out_by_gemeente_says_so(tmp_path: Path, fake_fit: None) -> None:
    out = tmp_path / "out"
    _run(out, "--gemeente", "groningen", "nijmegen", "--outcome", "work_gt12h")
    rows = pd.read_csv(out / "municipalities.csv", keep_default_na=False).set_index("gemeente")
    assert rows.loc["utrecht", "reason_none"] == "not selected (--gemeente)"
    assert rows.loc["groningen", "outcomes"] == "work_gt12h" and rows.loc["groningen", "reason_none"] == ""


def test_missing_interval_is_a_dash_not_empty_brackets() -> None:
    assert _interval_md(None, None) == "\u2013"
    assert _interval_md(float("nan"), 0.1) == "\u2013"
    assert _interval_md(-0.05, 0.02, 100) == "[-5.0, 2.0]"
