"""Domain fits: survey items of one construct as measurements of one effect (docs/domains.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_bijstand.evidence.load import load_evidence
from bayes_bijstand.evidence.outcomes import DOMAIN_FAMILIES, domain_family, get_outcome
from bayes_bijstand.models.domains import (
    ITEM_CORRELATION,
    domain_table,
    item_correlation,
    prepare_domain,
)
from bayes_bijstand.models.selection import select_rows
from bayes_bijstand.specs import load_spec


def test_domain_names_and_members_are_scores() -> None:
    assert domain_family("mental_health.domain") == "mental_health"
    assert domain_family("mental_health") is None
    assert get_outcome("mental_health.domain").kind == "score"
    for members in DOMAIN_FAMILIES.values():
        assert all(get_outcome(o).kind == "score" and get_outcome(o).known for o in members)


def test_domain_table_stacks_the_members_own_rows() -> None:
    ev = load_evidence()
    spec = load_spec("meta_components")
    t = domain_table(ev, "mental_health", spec)
    assert t["row_id"].is_unique
    used = t[t["used"]]
    assert set(used["domain_outcome"]) >= {"health_index", "mental_calm"}
    for o in set(used["domain_outcome"]):
        own = select_rows(ev, o, "score", spec)
        ids = {f"{o}:{r}" for r in own.loc[own["used"], "row_id"]}
        assert set(used.loc[used["domain_outcome"] == o, "row_id"]) == ids
    _, data = prepare_domain(ev, "mental_health", spec)
    assert set(data.gemeenten) == {"groningen", "nijmegen"}
    # (The shipped domains' survey rows are prose and marker rows; the correlation of
    # Gaussian rows is checked on constructed rows below.)


def test_item_correlation_is_the_item_factor_times_the_contrast_correlation() -> None:
    rows = pd.DataFrame({"gemeente": ["n", "n", "n", "o"], "arm": ["a", "a", "b", "a"],
                         "comparator": ["control"] * 4, "n_t": [100.0, 100, 100, 50],
                         "n_c": [100.0, 100, 100, 50], "months": [12, 12, 12, 12],
                         "domain_outcome": ["x", "y", "y", "x"]})
    R = item_correlation(rows, rho_months=0.6)
    # Same groups, two items: the item correlation; two arms sharing the control group, same
    # item: 1/n_c / (2/n) = 0.5; two arms, two items: 0.5 x r; other municipality: 0.
    assert R[0, 1] == pytest.approx(ITEM_CORRELATION * 0.99)
    assert R[1, 2] == pytest.approx(0.5)
    assert R[0, 2] == pytest.approx(0.5 * ITEM_CORRELATION)
    assert R[0, 3] == 0.0
    assert np.linalg.eigvalsh(R).min() > 0


def _simulated(path: Path, mu: float, seed: int) -> Path:
    """Four municipalities, each printing a scale and one item with SEs, both of one true
    effect per municipality drawn around ``mu`` (SMD). Eight rows: the default padding, so
    the test reuses the compiled model of the other tests."""
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(4):
        theta = rng.normal(mu, 0.05)
        shared = rng.normal()  # item estimates of one municipality share persons
        for o in ("health_index", "mental_calm"):
            se = 0.06
            noise = np.sqrt(ITEM_CORRELATION) * shared + np.sqrt(1 - ITEM_CORRELATION) * rng.normal()
            rows.append({"gemeente": f"sim{g}", "arm": "extra_hulp", "outcome": o,
                         "comparison": "vs_control", "estimate": round(theta + se * noise, 6),
                         "se": se, "n_treatment": 500, "n_control": 500, "months": 24,
                         "scale": "smd"})
    f = path / "sim_domain.csv"
    pd.DataFrame(rows).to_csv(f, index=False)
    return f


def test_production_fit_recovers_a_common_domain_effect(tmp_path: Path) -> None:
    """The domain fit (the one summary-level model, shipped sampler) puts the true pooled
    effect inside its 95% interval, and the data move it far from the prior (SD 0.3)."""
    from bayes_bijstand.meta import fit_meta

    mu = 0.25
    ev = load_evidence(_simulated(tmp_path, mu, seed=4))
    spec = load_spec("meta_components")
    res = fit_meta(ev, spec, "mental_health.domain", prior_predictive=False,
                   posterior_predictive=False)
    assert res.diagnostics.passed, res.diagnostics.problems
    draws = res.posterior["mu_arm"].sel(arm="extra_hulp").values.ravel()
    lo, hi = np.quantile(draws, [0.025, 0.975])
    assert lo < mu < hi
    # Eight rows of SE 0.06 correlated 0.6 in pairs: about 5 independent rows' worth, so the
    # pooled SD is near sqrt(0.06^2 / 5 + tau^2 / 4), far below the prior's 0.3.
    assert np.std(draws) < 0.1
