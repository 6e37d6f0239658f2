"""One-stage vs two-stage: the agreement measure, the first-stage round trip and a real fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_bijstand.microdata import two_stage, validate_microdata
from bayes_bijstand.simulate import simulate_microdata
from bayes_bijstand.stages import (
    agreement_table,
    compare_one_two_stage,
    pooled_within_sd,
    two_stage_evidence,
)

# A setting where the two estimators should coincide: three gemeenten that randomised after
# consent, ~240 persons per arm in Utrecht and ~140 in Oss and Wageningen, no coach effects,
# and a score whose effect does not vary between gemeenten (see simulate.py).
COMPARE_DATA = {"gemeenten": ["utrecht", "wageningen", "oss"], "scale": 1.5, "tau": 0.0,
                "sigma_coach": 0.0, "score_effect": 0.3, "seed": 3}


@pytest.fixture(scope="module")
def compare_data() -> pd.DataFrame:
    return validate_microdata(simulate_microdata(**COMPARE_DATA))


def _draws(rng: np.random.Generator, mean: float, sd: float) -> np.ndarray:
    return rng.normal(mean, sd, size=(2, 2000))


def test_agreement_table_flags_a_shift_and_accepts_noise() -> None:
    rng = np.random.default_rng(0)
    one = {"a": _draws(rng, 0.20, 0.1), "b": _draws(rng, 0.10, 0.1), "only_one": _draws(rng, 0, 1)}
    two = {"a": _draws(rng, 0.21, 0.1), "b": _draws(rng, 0.25, 0.1)}
    t = agreement_table(one, two, scale="smd", n_gemeenten={"a": 3}).set_index("arm")
    assert list(t.index) == ["a", "b"]  # arms in one set only are skipped
    assert t.loc["a", "agrees"] and not t.loc["b", "agrees"]
    assert t.loc["b", "diff"] == pytest.approx(0.15, abs=0.01)
    assert t.loc["b", "diff_in_sd"] == pytest.approx(1.5, abs=0.1)
    # independent draws: MCSE of a mean of 4,000 draws with SD 0.1 is ~0.0016
    assert t.loc["a", "one_mcse"] == pytest.approx(0.1 / np.sqrt(4000), rel=0.2)
    assert t.loc["a", "mcse"] == pytest.approx(np.hypot(t.loc["a", "one_mcse"],
                                                        t.loc["a", "two_mcse"]))
    assert t.loc["a", "tolerance"] == pytest.approx(0.25 * t.loc["a", "sd"]
                                                    + 4 * t.loc["a", "mcse"])
    assert t.loc["a", "n_gemeenten"] == 3 and np.isnan(t.loc["b", "n_gemeenten"])
    with pytest.raises(ValueError, match="chain, draw"):
        agreement_table({"a": np.zeros(10)}, {"a": np.zeros(10)})


def test_pooled_within_sd_ignores_group_means() -> None:
    rng = np.random.default_rng(1)
    n = 4000
    df = pd.DataFrame({"gemeente": rng.choice(["oss", "utrecht"], n),
                       "arm": rng.choice(["control", "extra_hulp"], n)})
    shift = df["gemeente"].map({"oss": 0.0, "utrecht": 5.0}) + df["arm"].map(
        {"control": 0.0, "extra_hulp": 2.0})
    df["social_trust_m24"] = shift + rng.normal(0.0, 1.5, n)
    df.loc[:9, "social_trust_m24"] = np.nan
    assert pooled_within_sd(df, "social_trust_m24") == pytest.approx(1.5, rel=0.05)


def test_two_stage_evidence_round_trip_and_shift(compare_data) -> None:
    est, ev = two_stage_evidence(compare_data, "social_trust_m24")
    direct = two_stage(compare_data, "social_trust_m24")
    assert len(ev) == len(est) == len(direct) == 8
    np.testing.assert_allclose(ev["estimate"], direct["estimate"], rtol=1e-12)
    np.testing.assert_allclose(ev["se"], direct["se"], rtol=1e-12)
    assert (ev["outcome"] == "social_trust").all() and (ev["scale"] == "score").all()
    assert ev["row_id"].is_unique
    est2, ev2 = two_stage_evidence(compare_data, "social_trust_m24", shift=0.5)
    np.testing.assert_allclose(ev2["estimate"], direct["estimate"] + 0.5, rtol=1e-12)
    np.testing.assert_allclose(est2["estimate"], direct["estimate"] + 0.5, rtol=1e-12)


@pytest.mark.slow
def test_one_stage_agrees_with_two_stage_and_detects_a_shift(compare_data) -> None:
    """Pooled SMD per arm: one-stage bambi fit vs meta_arms on the two-stage estimates.

    Agreement within 0.25 posterior SD + 4 MCSE (see bayes_bijstand.stages). The negative
    control shifts every first-stage estimate by 0.5 score points (~0.34 SD, ~4 posterior
    SDs of the pooled effect) and must be flagged for every arm.
    """
    fit = {"draws": 250, "tune": 250, "chains": 2, "sampler": "nutpie", "random_seed": 1}
    cmp = compare_one_two_stage(compare_data, "social_trust_m24", **fit)
    t = cmp.table.set_index("arm")
    assert set(t.index) == {"zelf_in_actie", "extra_hulp", "werken_loont"}
    assert cmp.scale == "smd" and 1.2 < cmp.score_sd < 1.8
    # both fits see data: posterior SDs well below the prior SD of 0.30
    assert (t["one_sd"] < 0.2).all() and (t["two_sd"] < 0.2).all()
    assert cmp.agrees, t
    assert (t["diff_in_sd"].abs() < 0.25 + 4 * t["mcse"] / t["sd"]).all()

    shifted = compare_one_two_stage(compare_data, "social_trust_m24", shift=0.5,
                                    one_stage=cmp.one_stage, **fit)
    s = shifted.table.set_index("arm")
    assert not s["agrees"].any(), s
    assert (s["diff"] > 0).all() and (s["diff_in_sd"] > 1.0).all()
    # the one-stage draws were reused, not refitted
    np.testing.assert_array_equal(s["one_mean"], t["one_mean"])
