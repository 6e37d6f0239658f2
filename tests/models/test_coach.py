"""The coach variance component of the summary-level model (docs/model.md, "Coaches").

Checked against closed forms: the registry's team weights (sum of squared caseload shares),
the prior variance the component adds to a new municipality's effect, the rows' means (the
effect with the coaches that delivered the arm), and the switch that turns it off.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bayes_bijstand.evidence.load import load_evidence
from bayes_bijstand.evidence.outcomes import outcome_kind
from bayes_bijstand.evidence.registry import coach_teams
from bayes_bijstand.models import backends
from bayes_bijstand.models.selection import select_rows
from bayes_bijstand.models.summary_level import choose_sizes, coach_teams_of, model_arrays, prepare
from bayes_bijstand.specs import ModelSpec

SPEC = ModelSpec(name="test")


@pytest.fixture(scope="module")
def evidence():
    return load_evidence()


def _data(evidence, outcome: str, spec: ModelSpec = SPEC):
    kind = outcome_kind(outcome)
    return prepare(select_rows(evidence, outcome, kind, spec), outcome, kind, spec)


def test_team_weights_follow_the_registry() -> None:
    """Groningen's five werkcoaches with 13/47/40/50/46 clients (000 L3703): w2 = sum of
    squared caseload shares; Nijmegen's three coaches (002 L669): 1/3; Oss's pairs
    (001 L3565): at least two, so w2 = 1/2 (an upper bound on the coach variance)."""
    t = coach_teams().set_index(["gemeente", "arm"])
    n = np.array([13, 47, 40, 50, 46], dtype=float)
    assert t.loc[("groningen", "extra_hulp"), "w2"] == pytest.approx(((n / n.sum()) ** 2).sum())
    assert t.loc[("groningen", "extra_hulp"), "w2"] == pytest.approx(8594 / 196**2)
    assert t.loc[("nijmegen", "extra_hulp+werken_loont"), "w2"] == pytest.approx(1 / 3)
    assert t.loc[("oss", "extra_hulp"), "w2"] == pytest.approx(0.5)
    assert "at least 2" in t.loc[("oss", "zelf_in_actie"), "basis"]
    # Regular caseworkers serve every arm alike (assigned before randomisation): no team.
    assert not any(a in ("control", "reference", "provider_c") for _, a in t.index)
    assert "000_b1011bc5a1f5730a.txt:3703" in t.loc[("groningen", "extra_hulp"), "source"]


def test_rows_carry_their_team_and_the_model_gets_one_slot_per_team(evidence) -> None:
    data = _data(evidence, "outflow_work")
    rows = data.rows
    oss = rows[(rows["gemeente"] == "oss") & (rows["arm"] == "extra_hulp")]
    assert len(oss) and (oss["coach_w2"] == 0.5).all()
    assert oss["coach_team"].str.contains("001_e8219d228756aa2a.txt:3565").all()
    g, a, w2 = coach_teams_of(data)
    teams = {(data.gemeenten[i], data.arms[j]): w for i, j, w in zip(g, a, w2, strict=True)}
    assert teams[("oss", "extra_hulp")] == 0.5
    assert teams[("oss", "zelf_in_actie")] == 0.5
    off = _data(evidence, "outflow_work", replace(SPEC, coach=False))
    assert coach_teams_of(off)[0].size == 0


def test_new_municipality_prior_variance_includes_a_new_team(evidence) -> None:
    """Prior of theta_new for an arm of a single component: mu_sd^2 + tau_sd^2 (no coaches)
    plus coach_sd^2 / new_team_size (HalfNormal(s): E[sigma^2] = s^2) for a coached arm."""
    spec = replace(SPEC, binary=replace(SPEC.binary, coach_sd=0.4), coach_new_team=2.0,
                   kind="meta_arms")
    data = _data(evidence, "outflow_work", spec)
    pri = spec.priors(data.kind)
    prior = backends.prior_draws(data, spec, "partial", seed=5, draws=20000)
    new = prior["theta_new"]
    coached = {data.arms[j] for j in coach_teams_of(data)[1]}
    assert "extra_hulp" in coached
    base = pri.mu_sd**2 + pri.tau_sd**2
    for arm in data.arms:
        x = new.sel(arm=arm).values.ravel()
        want = base + (pri.coach_sd**2 / spec.coach_new_team if arm in coached else 0.0)
        # Var of a sample variance ~ (kurtosis - 1) sigma^4 / n; kurtosis of this mixture < 9.
        assert x.var() == pytest.approx(want, rel=4 * np.sqrt(8 / x.size)), arm


def test_coach_slots_carry_the_team_weight(evidence) -> None:
    data = _data(evidence, "work_gt12h")
    sizes = choose_sizes(data)
    arr = model_arrays(data, SPEC, sizes, pooling="partial")
    g, a, w2 = coach_teams_of(data)
    k = len(g)
    assert k >= 1
    np.testing.assert_array_equal(arr["d_coach_w2"][:k], w2)
    assert (arr["d_coach_w2"][k:] == 0).all()
    np.testing.assert_array_equal(arr["d_coach_Pg"][:k].argmax(axis=1), g)
    np.testing.assert_array_equal(arr["d_coach_Pa"][:k].argmax(axis=1), a)
    assert arr["d_coach_sd"] == SPEC.binary.coach_sd


def test_coach_table_closed_forms() -> None:
    """On constructed draws: the coach share is Var(dev) / Var(theta + dev), and the implied
    design effect of a row is 1 + E[sigma^2] w2 / (se / take-up)^2."""
    import pandas as pd
    import xarray as xr

    from bayes_bijstand.summaries import coach_table

    rng = np.random.default_rng(1)
    n = 40000
    sig = np.abs(rng.normal(0, 0.05, n))
    theta = rng.normal(0.02, 0.03, n)
    dev = sig * np.sqrt(0.25) * rng.normal(size=n)
    dims = ("chain", "draw", "gemeente", "arm")
    post = xr.Dataset({
        "theta": xr.DataArray((theta)[None, :, None, None], dims=dims,
                              coords={"gemeente": ["g1"], "arm": ["extra_hulp"]}),
        "theta_coached": xr.DataArray((theta + dev)[None, :, None, None], dims=dims,
                                      coords={"gemeente": ["g1"], "arm": ["extra_hulp"]}),
        "sigma_coach": xr.DataArray(sig[None, :], dims=("chain", "draw")),
    })
    rows = pd.DataFrame({"gemeente": ["g1"], "arm": ["extra_hulp"], "coach_w2": [0.25],
                         "coach_team": ["4 coaches"], "se": [0.01], "se_design": [np.nan],
                         "takeup": [0.5]})
    t = coach_table(post, rows, ci_prob=0.9).iloc[0]
    assert t["n_coaches"] == 4
    assert t["coach_share"] == pytest.approx(np.var(dev) / np.var(theta + dev))
    assert t["design_effect"] == pytest.approx(1 + np.mean(sig**2) * 0.25 / (0.01 / 0.5) ** 2)
    assert t["team_mean"] == pytest.approx(np.mean(theta + dev))
    assert t["avg_mean"] == pytest.approx(np.mean(theta))
