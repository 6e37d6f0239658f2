"""The frequentist twin says what it computed: no Wald rescaling, no k = 1 "REML" pool."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayes_bijstand.frequentist.twin import twin_inputs, twin_summary


def _rows(*specs: tuple[str, str, float, float, float]) -> pd.DataFrame:
    """(row_id, gemeente, y, se, takeup) rows of arm ``a`` with grade ``se``."""
    return pd.DataFrame([{"row_id": rid, "gemeente": g, "arm": "a", "family": "gaussian",
                          "grade": "se", "y": y, "se": se, "se_design": np.nan, "takeup": t}
                         for rid, g, y, se, t in specs])


W = np.array([[1.0]])


def test_itt_of_offer_rows_are_left_out_and_named() -> None:
    rows = _rows(("r1", "g1", 0.02, 0.01, 1.0), ("r2", "g2", -0.034, 0.012, 0.11))
    assert list(twin_inputs(rows)["row_id"]) == ["r1"]
    t = twin_summary(rows, ["a"], ["a"], W, ci_prob=0.9).set_index("parameter")
    arm = t.loc["mu_arm"]
    assert arm["freq_k"] == 1 and arm["freq_estimate"] == pytest.approx(0.02)
    assert "r2" in arm["freq_note"] and "Wald" in arm["freq_note"]
    # Opted in, the rescaled row enters and the method says so.
    t = twin_summary(rows, ["a"], ["a"], W, ci_prob=0.9, wald=True).set_index("parameter")
    assert t.loc["mu_arm", "freq_k"] == 2 and "Wald" in t.loc["mu_arm", "freq_method"]


def test_a_single_row_is_labelled_single_study_with_its_own_interval() -> None:
    rows = _rows(("r1", "g1", 0.05, 0.02, 1.0))
    t = twin_summary(rows, ["a"], ["a"], W, ci_prob=0.9).set_index("parameter")
    arm = t.loc["mu_arm"]
    assert arm["freq_method"] == "single study"
    z = stats.norm.isf(0.05)
    assert arm["freq_estimate"] == pytest.approx(0.05)
    assert arm["freq_ci_low"] == pytest.approx(0.05 - z * 0.02)
    assert arm["freq_ci_high"] == pytest.approx(0.05 + z * 0.02)


def test_reml_label_only_where_rows_were_pooled() -> None:
    rows = _rows(("r1", "g1", 0.05, 0.02, 1.0), ("r2", "g2", 0.01, 0.02, 1.0),
                 ("r3", "g3", 0.03, 0.03, 1.0))
    t = twin_summary(rows, ["a"], ["a"], W, ci_prob=0.9).set_index("parameter")
    assert t.loc["mu_arm", "freq_method"] == "REML+KNHA" and t.loc["mu_arm", "freq_k"] == 3
    assert t.loc["mu_arm", "freq_note"] == ""
