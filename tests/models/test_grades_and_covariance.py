"""Evidence grades, derived SEs, selection rules and the within-study correlation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayes_bijstand.covariance import contrast_correlation
from bayes_bijstand.evidence.grades import design_se, grade_of, measurement_table, z_of_p
from bayes_bijstand.evidence.load import load_evidence
from bayes_bijstand.models.selection import select_rows
from bayes_bijstand.specs import ModelSpec


def _row(**kw: object) -> pd.Series:
    base = {c: np.nan for c in ("estimate", "se", "ci_low", "ci_high", "ci_level", "p_value",
                                "p_lower", "p_upper", "direction", "n_treatment", "n_control",
                                "n_total", "control_mean", "treatment_mean", "months")}
    base.update(row_id="r", gemeente="g", arm="extra_hulp", comparison="vs_control",
                comparator="control", estimand="itt", model_variant="", source="s", line=1,
                quality="ok", scale="proportion", significance="")
    base.update(kw)
    return pd.Series(base)


def _table(*rows: pd.Series, kind: str = "binary") -> pd.DataFrame:
    return measurement_table(pd.DataFrame(list(rows)), kind)


def test_grade_order() -> None:
    assert grade_of(_row(estimate=0.1, se=0.05), "binary") == "se"
    assert grade_of(_row(estimate=0.1, ci_low=0.0, ci_high=0.2), "binary") == "ci"
    assert grade_of(_row(estimate=0.1, p_value=0.04), "binary") == "p"
    assert grade_of(_row(estimate=0.1, p_upper=0.05), "binary") == "marker"
    assert grade_of(_row(estimate=0.1, n_treatment=100, n_control=100), "binary") == "counts"
    assert grade_of(_row(direction=1, significance="significant"), "binary") == "prose"
    assert grade_of(_row(), "binary") is None


def test_ci_and_p_give_the_closed_form_se() -> None:
    t = _table(_row(row_id="a", estimate=0.1, ci_low=0.02, ci_high=0.18, ci_level=0.95),
               _row(row_id="b", estimate=0.1, p_value=0.05))
    assert t.loc[0, "se"] == pytest.approx(0.16 / (2 * stats.norm.isf(0.025)))
    assert t.loc[1, "se"] == pytest.approx(0.1 / stats.norm.isf(0.025))


def test_percent_scale_is_converted_to_risk_difference() -> None:
    t = _table(_row(estimate=4.0, se=2.0, scale="percent"))
    assert t.loc[0, "y"] == pytest.approx(0.04) and t.loc[0, "se"] == pytest.approx(0.02)


def test_marker_bounds_the_se_by_the_legend() -> None:
    t = _table(_row(estimate=-0.11, p_lower=0.05, p_upper=0.10, n_treatment=128, n_control=131))
    assert t.loc[0, "grade"] == "marker"
    assert t.loc[0, "se_lo"] == pytest.approx(0.11 / z_of_p(0.05))
    assert t.loc[0, "se_hi"] == pytest.approx(0.11 / z_of_p(0.10))


def test_counts_grade_uses_the_binomial_design_se() -> None:
    t = _table(_row(estimate=0.03, n_treatment=200, n_control=300, control_mean=0.2))
    assert t.loc[0, "grade"] == "counts"
    assert t.loc[0, "se_design"] == pytest.approx(np.sqrt(0.2 * 0.8 * (1 / 200 + 1 / 300)))


def test_prose_row_is_z_censored() -> None:
    t = _table(_row(direction=-1, significance="negatief, significant op 90%", p_lower=0,
                    p_upper=0.10, n_treatment=100, n_control=100))
    assert t.loc[0, "family"] == "z_censored" and t.loc[0, "sign"] == -1
    assert t.loc[0, "z_lo"] == pytest.approx(stats.norm.isf(0.05))


def test_score_outcome_uses_t_to_d() -> None:
    t = _table(_row(estimate=0.4, se=0.2, scale="score", n_treatment=50, n_control=50), kind="score")
    assert t.loc[0, "y"] == pytest.approx(2.0 * design_se(50, 50, "score", None))


def test_shared_control_correlation_matches_the_closed_form() -> None:
    tab = pd.DataFrame({"gemeente": ["g", "g", "h"], "arm": ["a", "b", "a"],
                        "comparator": ["control"] * 3, "n_t": [100.0, 200.0, 100.0],
                        "n_c": [150.0, 150.0, 150.0], "months": [24, 24, 24]})
    R = contrast_correlation(tab)
    expected = (1 / 150) / np.sqrt((1 / 100 + 1 / 150) * (1 / 200 + 1 / 150))
    assert R[0, 1] == pytest.approx(expected)
    assert R[0, 2] == 0.0 and np.allclose(R, R.T) and np.all(np.linalg.eigvalsh(R) > 0)


def test_repeated_months_get_ar1_correlation() -> None:
    tab = pd.DataFrame({"gemeente": ["g", "g"], "arm": ["a", "a"], "comparator": ["control"] * 2,
                        "n_t": [100.0, 100.0], "n_c": [100.0, 100.0], "months": [8, 24]})
    R = contrast_correlation(tab, rho_months=0.6)
    assert R[0, 1] == pytest.approx(0.6 ** 2)


def test_selection_keeps_one_row_per_gemeente_and_arm() -> None:
    ev = load_evidence()
    t = select_rows(ev, "work_gt8h", "binary", ModelSpec(name="t"))
    used = t[t["used"]]
    assert not used.duplicated(["gemeente", "arm"]).any()
    # Full reports supersede the cross-city prose for Groningen and Nijmegen ...
    assert set(used.loc[used["gemeente"].isin(["groningen", "nijmegen"]), "grade"]) <= {"counts", "marker"}
    # ... and the prose is what we have for the four cities without a report.
    assert {"utrecht", "tilburg", "wageningen", "deventer"} <= set(used["gemeente"])
    assert (t.loc[~t["used"], "reason"] != "").all()


def test_rct_only_spec_drops_reference_and_participant_rows() -> None:
    ev = load_evidence()
    t = select_rows(ev, "work_gt12h", "binary", ModelSpec(name="t", comparisons=("vs_control",)))
    assert set(t.loc[t["used"], "comparison"]) == {"vs_control"}


def test_survey_outcomes_use_survey_respondents_not_assignment_sizes():
    """A survey outcome is measured on a wave's respondents: its design SE must use them."""
    from bayes_bijstand.evidence.registry import load_arms
    from bayes_bijstand.models.selection import measured_by, registry_sizes, select_rows
    from bayes_bijstand.specs import ModelSpec

    arms = load_arms()
    last = arms[(arms["gemeente"] == "groningen") & (arms["stage"] == "survey_wave3")]
    n_resp = dict(zip(last["arm"], last["n"].astype(float), strict=True))
    assign, _, _ = registry_sizes()
    assert measured_by("social_trust") == "survey" and measured_by("work_gt12h") == "register"
    t = select_rows(load_evidence(), "social_trust", "score", ModelSpec(name="t"))
    gro = t[(t["gemeente"] == "groningen") & (t["grade"] == "prose") & t["used"]]
    assert len(gro) >= 3
    for _, r in gro.iterrows():
        assert r["n_t"] == n_resp[r["arm"]] and r["n_c"] == n_resp["control"]
        assert r["n_t"] < assign[("groningen", r["arm"])] / 5  # ~10x fewer than assigned
        assert r["takeup"] == 1.0  # only participants were surveyed
        assert "survey respondents" in r["conversion"]
    # Cities that print no survey sizes get a response-rate discount, never more precision.
    utr = t[(t["gemeente"] == "utrecht") & t["used"]]
    assert len(utr) and (utr["n_t"] < assign[("utrecht", "zelf_in_actie")]).all()
    # A register outcome keeps the assignment sizes and the offer take-up.
    w = select_rows(load_evidence(), "work_gt8h", "binary", ModelSpec(name="t"))
    gw = w[(w["gemeente"] == "groningen") & (w["estimand"] == "itt_offer") & w["used"]]
    assert len(gw) and (gw["takeup"] < 0.5).all()
