"""Validation that can fail, on the production model (nutpie, the compiled graph reused):
simulation-based calibration with marker, prose and binomial rows, and the coverage of 90%
intervals when the weaker rows' true SE is 1.5 x their design SE. Small versions; the full
runs are ``benchmarks/sbc_production.py`` (results in ``benchmarks/results/``)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bayes_bijstand.models import calibration as cal
from bayes_bijstand.specs import default_spec_path, load_spec


@pytest.fixture(scope="module")
def spec():  # noqa: ANN201
    return load_spec(default_spec_path())


def test_rank_uniformity_detects_a_miscalibrated_posterior() -> None:
    rng = np.random.default_rng(0)
    assert cal.rank_uniformity(rng.integers(0, 101, 200), 100, 4) > 0.001
    # An overconfident posterior puts the truth in the tails: a U-shaped histogram.
    tails = np.concatenate([rng.integers(0, 10, 100), rng.integers(91, 101, 100)])
    assert cal.rank_uniformity(tails, 100, 4) < 1e-6


def test_simulated_rows_follow_the_measurement_story(spec) -> None:  # noqa: ANN001
    rng = np.random.default_rng(3)
    table, truth = cal.simulate(rng, spec)
    assert set(table["family"]) == {"gaussian", "z_censored", "binomial"}
    mk = table[table["grade"] == "marker"]
    # The latent SE bounds come from the legend band of |y| / se.
    assert ((mk["se_lo"] <= mk["se_hi"]) & (mk["se_lo"] >= 0)).all()
    assert set(truth) >= {"mu", "tau", "theta[g0]"}


def test_sbc_of_the_production_model(spec) -> None:  # noqa: ANN001
    draws, chains, thin = 100, 2, 2
    n = chains * draws // thin
    ranks = cal.sbc(spec, reps=30, seed=11, draws=draws, tune=200, chains=chains, thin=thin)
    for k in ("mu", "tau", "theta[g2]", "theta[g4]", "theta[g6]"):
        assert cal.rank_uniformity(ranks[k], n, 4) > 0.001, (k, np.bincount(ranks[k] * 4 // (n + 1)))


def test_weaker_rows_do_not_claim_more_precision_than_the_data_carry(spec) -> None:  # noqa: ANN001
    reps = 20
    cov = cal.coverage_study(spec, reps, seed=5, se_factor=1.5, draws=100, tune=200)
    floor = stats.binom.ppf(0.001, reps, 0.90) / reps
    for k in ("mu", "theta[g2]", "theta[g3]", "theta[g4]", "theta[g5]"):
        assert cov[k] >= floor, (k, cov[k], floor)
