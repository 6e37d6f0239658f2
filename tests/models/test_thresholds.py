"""Nested thresholds: the correlation of nested indicators, the stacked table, and recovery of a
known latent shift by the production model (simulated persons, one fit)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayes_bijstand.evidence.load import load_evidence
from bayes_bijstand.models.thresholds import (
    FAMILIES,
    implied_effects,
    joint_table,
    nested_correlation,
    prepare_joint,
)
from bayes_bijstand.specs import load_spec


def test_nested_indicator_correlation_matches_simulation() -> None:
    """Two contrasts of the same groups at thresholds with shares 0.30 and 0.10: their
    correlation is the indicators' correlation, checked against 4,000 simulated trials."""
    rows = pd.DataFrame({"gemeente": ["g", "g"], "arm": ["a", "a"], "comparator": ["control"] * 2,
                         "n_t": [300.0, 300.0], "n_c": [300.0, 300.0], "months": [24, 24],
                         "threshold_outcome": ["gt8", "gt27"], "control_share": [0.30, 0.10]})
    from bayes_bijstand.covariance import contrast_correlation

    rho = nested_correlation(rows, rho_months=0.6)[0, 1]
    same = contrast_correlation(rows, rho_months=0.6)[0, 1]  # one outcome: (almost) 1
    assert rho == pytest.approx(same * np.sqrt(0.10 * 0.70 / (0.30 * 0.90)))
    rng = np.random.default_rng(5)
    cut_lo, cut_hi = stats.norm.isf(0.30), stats.norm.isf(0.10)
    h_t = rng.normal(size=(4000, 300))
    h_c = rng.normal(size=(4000, 300))
    d_lo = (h_t > cut_lo).mean(1) - (h_c > cut_lo).mean(1)
    d_hi = (h_t > cut_hi).mean(1) - (h_c > cut_hi).mean(1)
    r = np.corrcoef(d_lo, d_hi)[0, 1]
    assert abs(r - rho) < 4 * (1 - rho**2) / np.sqrt(4000)


def test_joint_table_stacks_every_threshold_with_its_slope() -> None:
    ev = load_evidence()
    spec = load_spec("meta_components")
    t = joint_table(ev, "work_hours", spec)
    used = t[t["used"]]
    assert set(used["threshold_outcome"]) >= {"work_gt8h", "work_gt12h", "work_gt27h"}
    assert set(used["threshold_outcome"]) <= set(FAMILIES["work_hours"])
    assert t["row_id"].is_unique
    p = used["control_share"].to_numpy()
    np.testing.assert_allclose(used["probit_slope"], stats.norm.pdf(stats.norm.ppf(p)))
    # The rows each threshold's own fit would use, and no others.
    from bayes_bijstand.models.selection import select_rows
    for o in set(used["threshold_outcome"]):
        own = select_rows(ev, o, "binary", spec)
        ids = {f"{o}:{r}" for r in own.loc[own["used"], "row_id"]}
        assert set(used.loc[used["threshold_outcome"] == o, "row_id"]) <= ids
    _, data = prepare_joint(ev, "work_hours", spec)
    assert np.linalg.eigvalsh(data.corr).min() > 0


def _simulated_evidence(path: Path, mu: float, tau: float, seed: int) -> Path:
    """Counts-free SE rows for three thresholds in six municipalities from simulated persons."""
    rng = np.random.default_rng(seed)
    shares = {"work_gt8h": 0.35, "work_gt12h": 0.25, "work_gt27h": 0.10}
    n = 600
    rows = []
    for g in range(6):
        delta = rng.normal(mu, tau)
        h_c = rng.normal(size=n)
        h_t = rng.normal(delta, 1.0, size=n)
        for o, p in shares.items():
            cut = stats.norm.isf(p)
            pc, pt = (h_c > cut).mean(), (h_t > cut).mean()
            se = np.sqrt(pt * (1 - pt) / n + pc * (1 - pc) / n)
            rows.append({"gemeente": f"sim{g}", "arm": "extra_hulp", "outcome": o,
                         "comparison": "vs_control", "estimate": pt - pc, "se": se,
                         "n_treatment": n, "n_control": n, "control_mean": pc, "months": 24,
                         "scale": "proportion"})
    f = path / "sim.csv"
    pd.DataFrame(rows).to_csv(f, index=False)
    return f


def test_production_fit_recovers_a_known_latent_shift(tmp_path: Path) -> None:
    """Six simulated municipalities with latent shifts N(0.25, 0.05): the joint fit (the one
    summary-level model, default sampler) puts the true pooled shift inside its 95% interval,
    and each threshold's implied effect near the true effect at the population shares."""
    from bayes_bijstand.meta import fit_meta

    mu = 0.25
    ev = load_evidence(_simulated_evidence(tmp_path, mu, 0.05, seed=11))
    spec = load_spec("meta_components")  # the shipped sampler settings, as in production
    res = fit_meta(ev, spec, "work_hours.joint", prior_predictive=False, posterior_predictive=False)
    assert res.diagnostics.passed, res.diagnostics.problems
    draws = res.posterior["mu_arm"].sel(arm="extra_hulp").values.ravel()
    lo, hi = np.quantile(draws, [0.025, 0.975])
    assert lo < mu < hi
    assert hi - lo < 0.4  # the data inform the shift (prior sd of an SMD is wider)
    eff = implied_effects(res.posterior, res.table, ci_prob=0.95).set_index("outcome")
    for o, p in {"work_gt8h": 0.35, "work_gt12h": 0.25, "work_gt27h": 0.10}.items():
        true = stats.norm.sf(stats.norm.isf(p) - mu) - p
        row = eff.loc[o]
        assert row["ci_low"] < true < row["ci_high"], (o, true, row.to_dict())
    # Monotone in the way a shift must be: the largest effect where phi(z) is largest.
    assert eff.loc["work_gt8h", "mean"] > eff.loc["work_gt27h", "mean"] > 0


def test_joint_rows_scale_the_contrast_not_the_decliners_or_the_bias() -> None:
    """The joint fit multiplies only the participants' contrast by phi(z_k): a Zelen row's
    decliner term keeps the weight 1 - take-up, and bias terms keep the risk-difference
    priors of the row's own scale (not the SMD priors of the latent effect)."""
    from bayes_bijstand.models.summary_level import choose_sizes, model_arrays, sections

    ev = load_evidence()
    spec = load_spec("meta_components")
    table, data = prepare_joint(ev, "work_hours", spec)
    rows = data.rows
    assert (rows["contrast_scale"] == rows["probit_slope"]).all()
    arr = model_arrays(data, spec, choose_sizes(data), pooling="partial")
    gpos, cpos, _ = sections(data)
    for prefix, pos in (("g", gpos), ("c", cpos)):
        sub = rows.iloc[pos]
        np.testing.assert_allclose(arr[f"d_{prefix}_takeup"][: len(pos)],
                                   sub["takeup"] * sub["probit_slope"])
        offer = (sub["estimand"] == "itt_offer") & (sub["takeup"] < 1)
        np.testing.assert_allclose(arr[f"d_{prefix}_offer"][: len(pos)],
                                   np.where(offer, 1 - sub["takeup"], 0.0))
    assert ((rows["estimand"] == "itt_offer") & (rows["takeup"] < 1)).any()  # Groningen's Zelen rows
    # Bias terms (where a family has any: participants-only rows under bias.per_study) get
    # the risk-difference priors; checked on every family with rows.
    rd = spec.bias("binary")
    for fam in FAMILIES:
        try:
            _, d = prepare_joint(ev, fam, spec)
        except ValueError:
            continue
        assert d.bias_sd == tuple(rd[b.rpartition(":")[2]] for b in d.biases)
