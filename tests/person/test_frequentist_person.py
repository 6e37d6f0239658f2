"""Frequentist twins: tidy columns shared with the Bayesian summary, exact LPM check."""

from __future__ import annotations

import pytest

from bayes_bijstand.frequentist.person import COLUMNS, logit_glm, lpm_cluster, mixed_coach


def test_lpm_without_covariates_is_difference_in_means(small_data) -> None:
    oss = small_data[small_data["gemeente"] == "oss"]
    out = lpm_cluster(oss, covariates=False).set_index("arm")
    y = oss["work_gt12h_m24"].astype(float)
    diff = y[oss["arm"] == "extra_hulp"].mean() - y[oss["arm"] == "control"].mean()
    assert out.loc["extra_hulp", "estimate"] == pytest.approx(diff)
    assert (out["ci_low"] < out["estimate"]).all() and (out["estimate"] < out["ci_high"]).all()


@pytest.mark.parametrize("fn", [lpm_cluster, logit_glm, mixed_coach])
def test_twins_share_columns(small_data, fn) -> None:
    out = fn(small_data, participants_only=True)
    assert list(out.columns) == COLUMNS
    assert {"extra_hulp", "zelf_in_actie", "extra_hulp+werken_loont"} <= set(out["arm"])
    assert out["se"].iloc[0] > 0 and (out["ci_prob"] == 0.9).all()


def test_mixed_reports_sigma_coach(small_data) -> None:
    out = mixed_coach(small_data)
    assert "sigma_coach" in set(out["term"])
