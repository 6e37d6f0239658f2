"""Printed summaries (``print(res)``) of a Bayesian and a frequentist fit: one screen with the
reported numbers, a one-line ``repr``, and tables without duplicated or meaningless cells."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

from bayes_bijstand.frequentist import rma

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def result() -> Any:
    """One tiny real fit (work_gt12h: three municipalities, six arms), gate not required."""
    from bayes_bijstand.evidence.load import load_evidence
    from bayes_bijstand.meta import fit_meta
    from bayes_bijstand.specs import load_spec

    spec = load_spec("meta_components").with_overrides(draws=100, tune=100, chains=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_meta(load_evidence(), spec, "work_gt12h", retry=False)


def test_print_shows_k_pooled_effects_tau_prediction_and_status(result: Any) -> None:
    text = str(result)
    summ = result.summary()
    assert f"k = {len(result.data.gemeenten)} municipalities" in text
    for arm in result.data.arms:
        row = summ[(summ["parameter"] == "mu_arm") & (summ["label"] == arm)].iloc[0]
        assert f"{row['mean']:.4f}" in text and f"{row['sd']:.4f}" in text
        assert f"[{row['ci_low']:.4f}, {row['ci_high']:.4f}]" in text
        new = summ[(summ["parameter"] == "theta_new") & (summ["label"] == arm)].iloc[0]
        assert f"[{new['ci_low']:.4f}, {new['ci_high']:.4f}]" in text
    assert "tau_arm" in text and "risk difference" in text
    assert "diagnostics: " + ("passed" if result.diagnostics.passed else "FAILED") in text
    if not result.diagnostics.passed:
        assert "NOT a result" in text
    assert len(text.splitlines()) < 60


def test_repr_is_one_line_without_the_spec(result: Any) -> None:
    r = repr(result)
    assert "\n" not in r and len(r) < 200
    assert result.spec.source_text[:40] not in r


def test_summary_has_each_quantity_once(result: Any) -> None:
    s = result.summary()
    assert not s.duplicated(["parameter", "label"]).any()
    arms = set(s.loc[s["parameter"] == "mu_arm", "label"])
    assert not (s["parameter"].isin(["mu", "tau"]) & s["label"].isin(arms)).any()
    assert s.loc[s["parameter"] == "tau_arm", "prob_gt_0"].isna().all()
    assert (s["scale"] == "risk_difference").all()
    full = result.summary(all_rows=True)  # the run's summary.json keeps every stored row
    assert (full["parameter"] == "mu").any()
    assert (result.gemeenten()["scale"] == "risk_difference").all()


def test_gate_failure_hint_gives_the_draws_the_ess_threshold_needs(result: Any) -> None:
    from dataclasses import replace

    from bayes_bijstand.constants import ESS_MIN

    d = replace(result.diagnostics, passed=False, ess_bulk_min=100.0, ess_tail_min=200.0,
                n_draws=400, rhat_max=1.0, divergences=0, problems=["bulk ESS 100 < 400"])
    hint = d.hint(chains=2)
    # 0.25 ESS per draw -> 1600 draws in total for 400, +20% -> 1920 -> 1000 per chain
    assert "--draws 1000" in hint and str(ESS_MIN) in hint
    assert replace(d, passed=True).hint() == ""


def test_rma_prints_like_metafor() -> None:
    """BCG-style numbers: the printout carries tau², I², H², Q, estimate, SE, z, p and CI."""
    yi = np.array([-0.89, -1.59, -1.35, -1.44, -0.22, -0.79, -1.62, 0.01, -0.47, -1.37, -0.34,
                   0.45, -0.02])
    vi = np.array([0.33, 0.19, 0.42, 0.02, 0.05, 0.01, 0.22, 0.00, 0.06, 0.03, 0.01, 0.53,
                   0.27]) + 0.001
    res = rma(yi, vi, method="reml")  # method names are case-insensitive, as in metafor
    text = str(res)
    assert res.method == "REML"
    assert "Random-Effects Model (k = 13; tau^2 estimator: REML)" in text
    assert f"{res.tau2:.4f}" in text and f"{res.I2:.2f}%" in text and f"{res.H2:.2f}" in text
    assert f"Q(df = 12) = {res.QE:.4f}" in text
    for v in (res.beta[0], res.se[0], res.ci_low[0], res.ci_high[0]):
        assert f"{v:.4f}" in text
    assert f"{res.stat[0]:.3f}" in text and "zval" in text
    assert "Prediction interval (95%)" in text


def test_the_results_interval_level_is_used_everywhere_by_default(result: Any) -> None:
    """A result fitted with ``ci_prob=0.95`` (``fit --ci-prob 0.95``) reports 95% intervals in
    its tables, printout and frequentist twin without being asked again."""
    from dataclasses import replace

    r95 = replace(result, ci_prob=0.95)
    s90, s95 = result.summary(), r95.summary()
    assert (s95["ci_prob"] == 0.95).all() and (r95.gemeenten()["ci_prob"] == 0.95).all()
    arm = (s95["parameter"] == "mu_arm") & s95["freq_estimate"].notna()
    w90 = (s90.loc[arm, "ci_high"] - s90.loc[arm, "ci_low"]).to_numpy()
    w95 = (s95.loc[arm, "ci_high"] - s95.loc[arm, "ci_low"]).to_numpy()
    assert (w95 > w90).all()
    f90 = (s90.loc[arm, "freq_ci_high"] - s90.loc[arm, "freq_ci_low"]).to_numpy()
    f95 = (s95.loc[arm, "freq_ci_high"] - s95.loc[arm, "freq_ci_low"]).to_numpy()
    assert (f95 > f90).all()  # the twin is recomputed at the level, not left at 90%
    text = str(r95)
    assert "95% equal-tailed credible intervals" in text and "95% CrI" in text
    assert "90%" not in text
