"""Recovery coverage and SBC of the person-level model: the scoring, and a small real study."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_bijstand.models.person_level import prepare
from bayes_bijstand.recovery import (
    FitSettings,
    RecoveryDesign,
    _persons_from_cells,
    _sbc_design,
    binomial_se,
    coverage_table,
    nominal_check,
    rank_uniformity,
    run_coverage,
    sbc_replications,
    score_intervals,
    true_values,
)

# Three gemeenten, participants only (~960 persons): zelf_in_actie and extra_hulp are
# randomised in two gemeenten, the other arms in one.
SMALL = RecoveryDesign(gemeenten=("oss", "nijmegen", "wageningen"), scale=0.8)
FIT = FitSettings(draws=200, tune=200, chains=2, sampler="pymc", target_accept=0.95)


def test_true_values_bundles_add_components_and_tau() -> None:
    t = true_values(SMALL, ["extra_hulp", "extra_hulp+werken_loont", "keuze"]).set_index(
        ["term", "arm"])["truth"]
    assert t[("arm", "extra_hulp")] == 0.5
    assert t[("arm", "extra_hulp+werken_loont")] == pytest.approx(0.8)
    assert t[("tau", "extra_hulp")] == pytest.approx(0.1)
    assert t[("tau", "extra_hulp+werken_loont")] == pytest.approx(0.1 * np.sqrt(2))
    assert t[("sigma_coach", "")] == 0.2
    assert ("arm", "keuze") not in t.index  # a mixture has no single true value


def _summary(rows: list[tuple[str, str, float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"term": t, "arm": a, "estimate": e, "se": 0.1, "ci_low": lo,
                          "ci_high": hi, "ess_bulk": 400.0, "r_hat": 1.0}
                         for t, a, e, lo, hi in rows])


def test_score_intervals_and_coverage_table() -> None:
    truth = pd.DataFrame({"term": ["arm", "arm", "sigma_coach"], "arm": ["a", "b", ""],
                          "truth": [0.5, 0.0, 0.2]})
    summ = _summary([("arm", "a", 0.4, 0.1, 0.7), ("arm", "b", 0.5, 0.2, 0.9),
                     ("sigma_coach", "", 0.3, 0.05, 0.6), ("ame", "a", 3.0, 1.0, 5.0)])
    s = score_intervals(summ, truth).set_index("arm")
    assert list(s["covered"]) == [True, False, True]
    assert s.loc["b", "bias"] == pytest.approx(0.5)
    tab = coverage_table(pd.concat([s.reset_index().assign(rep=r) for r in range(4)]))
    overall = tab[tab["level"] == "overall"].iloc[0]
    assert overall["n"] == 12 and overall["covered"] == 8
    assert overall["se"] == pytest.approx(binomial_se(8 / 12, 12))
    arm = tab[(tab["level"] == "term") & (tab["term"] == "arm")].iloc[0]
    assert arm["coverage"] == 0.5 and arm["mean_width"] == pytest.approx(0.65)
    with pytest.raises(ValueError, match="no posterior summary"):
        score_intervals(summ[summ["arm"] != "b"], truth)


def test_rank_uniformity_detects_piled_up_ranks() -> None:
    rng = np.random.default_rng(0)
    flat = rank_uniformity(rng.integers(0, 100, 400), 99, 5)
    assert flat["n"] == 400 and sum(flat["counts"]) == 400 and flat["p_value"] > 0.01
    piled = rank_uniformity(rng.integers(90, 100, 400), 99, 5)
    assert piled["counts"] == [0, 0, 0, 0, 400] and piled["p_value"] < 1e-10
    with pytest.raises(ValueError, match="divisible"):
        rank_uniformity(np.arange(10), 99, 7)


def test_sbc_persons_collapse_to_the_simulated_successes() -> None:
    des = _sbc_design(SMALL, seed=5)
    rng = np.random.default_rng(1)
    succ = rng.binomial(des.frame["trials"].to_numpy(), 0.3)
    persons = _persons_from_cells(des, succ)
    again = prepare(persons, formula=SMALL.formula)
    np.testing.assert_array_equal(again.frame["successes"].to_numpy(), succ)
    np.testing.assert_array_equal(again.frame["trials"].to_numpy(), des.frame["trials"])


CALIBRATED = RecoveryDesign.calibrated(gemeenten=("oss", "wageningen", "utrecht"))
"""The benchmark's calibrated design in three gemeenten (~1,500 clients, 22 experiment
coaches): zelf_in_actie and extra_hulp randomised in three, werken_loont in two."""


def test_calibrated_design_draws_its_truth_from_the_priors() -> None:
    a, b = CALIBRATED.for_seed(1), CALIBRATED.for_seed(2)
    assert a.arm_tau != b.arm_tau and a.for_seed(1) == a  # a concrete design stays put
    assert a == CALIBRATED.for_seed(1)
    t = true_values(a, ["extra_hulp", "extra_hulp+werken_loont"]).set_index(["term", "arm"])
    assert t.loc[("tau", "extra_hulp+werken_loont"), "truth"] == a.arm_tau[
        "extra_hulp+werken_loont"]  # one deviation per arm, as in the fitted model
    assert t.loc[("sigma_caseworker", ""), "truth"] == a.sigma_caseworker
    with pytest.raises(ValueError, match="for_seed"):
        CALIBRATED.simulate(1)
    # HalfNormal(0.5): mean 0.5 * sqrt(2 / pi) = 0.399, SD 0.5 * sqrt(1 - 2 / pi) = 0.301
    sds = np.array([v for s in range(200) for v in CALIBRATED.for_seed(s).arm_tau.values()])
    assert abs(sds.mean() - 0.399) < 4 * 0.301 / np.sqrt(sds.size)


@pytest.mark.slow
def test_calibrated_coverage_small_study_and_negative_control() -> None:
    """Three replications of the calibrated design (true SDs drawn from the priors, the
    simulator equal to the fitted model): the nominal check at this size (15 intervals of
    arm effects and SDs, 0.90 within 2 binomial SEs, i.e. at least 12 of 15 covered) must
    pass, and the same fits scored against a wrong truth (arm effects + 1.5, SDs x 15) must
    fail it. The full study: benchmarks/person_recovery_coverage.py --model calibrated."""
    rows = run_coverage(CALIBRATED, [101, 102, 103], FIT)
    assert rows["rep"].nunique() == 3
    tab = coverage_table(rows)
    check = nominal_check(tab)
    assert check["n"] == 3 * (3 + 2)  # 3 arm effects + sigma_coach + sigma_caseworker
    assert check["passed"], (check, tab)
    assert (rows["r_hat"] < 1.1).all()

    wrong = rows.assign(truth=np.where(rows["term"] == "arm", rows["truth"] + 1.5,
                                       rows["truth"] * 15))
    wrong["covered"] = (wrong["ci_low"] <= wrong["truth"]) & (wrong["truth"] <= wrong["ci_high"])
    wrong["bias"] = wrong["estimate"] - wrong["truth"]
    assert not nominal_check(coverage_table(wrong))["passed"]


@pytest.mark.slow
def test_sbc_replication_runs_and_ranks_are_in_range() -> None:
    """One SBC replication end to end (prior draw -> persons -> fit_person -> ranks)."""
    sbc = sbc_replications(SMALL, 1, FitSettings(draws=100, tune=100, chains=2,
                                                 sampler="pymc"), n_ranks=49, seed=7)
    assert len(sbc) == 5 and set(sbc["n_ranks"]) == {49}
    assert sbc["rank"].between(0, 49).all()
    # the prior draws differ between arms (they are real draws, not a constant)
    assert sbc["truth"].nunique() == 5
