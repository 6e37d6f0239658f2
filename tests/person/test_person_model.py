"""Person-level bambi model: formula handling, identification, and (slow) real fits."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from bayes_bijstand.models.person_level import (
    ASSIGNED_FORMULA,
    CoachArmConfoundingWarning,
    _additive_terms,
    confounded_arms,
    fit_person,
    identification_report,
    prepare,
)
from bayes_bijstand.recovery import LEAN_FORMULA as LEAN
from bayes_bijstand.simulate import simulate_microdata, true_arm_effects


def test_prepare_rewrites_formula_and_collapses(small_data) -> None:
    p = prepare(small_data, formula=ASSIGNED_FORMULA)
    assert p.collapsed and p.family == "binomial"
    assert p.formula.startswith("p(successes, trials) ~ arm + age_group")
    assert "(1 | coach_key)" in p.formula and "gemeente:coach" not in p.formula
    assert p.frame["trials"].sum() == p.n_persons
    assert p.frame["coach_key"].str.startswith(("oss/", "nijmegen/")).all()
    assert _additive_terms(p.formula) is not None
    g = prepare(small_data, formula="social_trust_m24 ~ arm + sex", family="gaussian")
    assert not g.collapsed and g.n_persons == small_data["social_trust_m24"].notna().sum()
    with pytest.raises(ValueError, match="gaussian"):
        prepare(small_data, formula="social_trust_m24 ~ arm")
    with pytest.raises(ValueError, match="collapse=True"):
        prepare(small_data, formula="social_trust_m24 ~ arm", family="gaussian", collapse=True)


def test_identification_report_names_confounded_arms(small_data) -> None:
    # ITT: non-participants of every arm see regular klantmanagers, so nothing is fully
    # confounded; among participants the dedicated coaches are the only ones.
    assert confounded_arms(small_data).empty
    part = small_data[small_data["participated"] == 1]
    conf = confounded_arms(part)
    assert {("nijmegen", "extra_hulp+werken_loont"), ("oss", "extra_hulp")} <= set(
        zip(conf["gemeente"], conf["arm"], strict=True))
    text = identification_report(part, LEAN)
    assert re.search(r"nijmegen / extra_hulp\+werken_loont: \d coach\(es\)", text)
    assert "without a coach" in text and "Not identified" in text


def test_warns_on_confounding_without_sampling(small_data, monkeypatch) -> None:
    import bambi

    class Stop(Exception):
        pass

    def boom(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise Stop

    from bayes_bijstand.models import person_cells

    monkeypatch.setattr(bambi.Model, "fit", boom)
    monkeypatch.setattr(person_cells, "sample_cells", boom)  # the default nutpie path
    with pytest.warns(CoachArmConfoundingWarning, match="nijmegen/extra_hulp"), \
            pytest.raises(Stop):
        fit_person(small_data, formula=ASSIGNED_FORMULA, participants_only=True, draws=10,
                   tune=10, chains=1)


@pytest.mark.slow
def test_summary_has_both_scales_and_components(small_fit) -> None:
    s = small_fit.summary()
    assert {"estimate", "se", "ci_low", "ci_high", "ci_prob", "method", "term"} <= set(s)
    assert set(s["term"]) >= {"arm", "ame", "tau", "sigma_coach"}
    ame = s[s["term"] == "ame"]
    assert (ame["scale"] == "percentage_points").all()
    lo = s[s["term"] == "arm"]
    # AME sign follows the log-odds effect and is on a plausible pp scale
    m = lo.set_index("arm")["estimate"].align(ame.set_index("arm")["estimate"], join="inner")
    assert np.all(np.sign(m[0]) == np.sign(m[1])) and ame["estimate"].abs().max() < 40
    assert small_fit.collapsed and small_fit.n_rows < small_fit.n_persons


@pytest.mark.slow
def test_ame_direct_equals_bambi_predict(small_fit, monkeypatch) -> None:
    from bayes_bijstand.models import person_level as pl

    with monkeypatch.context() as m:
        # the numpy path in blocks of cells (without numba) vs the compiled one (default)
        m.setattr(pl, "_AME_KERNEL", [None])
        blocks = pl.average_marginal_effects(small_fit.model, small_fit.tree,
                                             small_fit.prepared)
    np.testing.assert_allclose(blocks.values, small_fit.ame.values, atol=1e-12)
    monkeypatch.setattr(pl, "_additive_terms", lambda f: None)
    slow = pl.average_marginal_effects(small_fit.model, small_fit.tree, small_fit.prepared)
    np.testing.assert_allclose(slow.values, small_fit.ame.values, atol=1e-10)


@pytest.mark.slow
def test_coach_effects_anonymised_and_checked(small_fit) -> None:
    t = small_fit.coach_effects()
    assert t["coach"].str.fullmatch(r"coach \d+").all()
    assert "suppressed" in t and (t.loc[t["suppressed"], "mean"] == "<10").all()
    shown = t.loc[~t["suppressed"]]
    for _, g in shown.groupby("gemeente"):
        assert list(g["mean"]) == sorted(g["mean"], reverse=True)
    ids = small_fit.coach_effects(reveal_coach_ids=True)
    assert not ids["coach"].str.startswith("coach ").all()


@pytest.mark.slow
def test_collapsed_equals_uncollapsed_posterior(small_data, small_fit, settings) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = fit_person(small_data, collapse=False, random_seed=2, **settings["fit"])
    assert not full.collapsed and full.n_rows == small_fit.n_persons
    a = small_fit.summary().set_index(["term", "arm"])
    b = full.summary().set_index(["term", "arm"])
    for key in [k for k in a.index if k[0] in ("arm", "ame")]:
        mc = np.sqrt(a.loc[key, "se"] ** 2 / a.loc[key, "ess_bulk"]
                     + b.loc[key, "se"] ** 2 / b.loc[key, "ess_bulk"])
        assert abs(a.loc[key, "estimate"] - b.loc[key, "estimate"]) < 4 * mc, key


@pytest.mark.slow
def test_parameter_recovery(small_fit, settings) -> None:
    """Two replications (the session fit + one more): true arm effects in 90% intervals."""
    truth = true_arm_effects(settings["effects"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = simulate_microdata(effects=settings["effects"], seed=8, **settings["small"])
        rep2 = fit_person(data, random_seed=3, **settings["fit"])
    hits = []
    for res in (small_fit, rep2):
        arms = res.summary().query("term == 'arm'")
        for _, r in arms.iterrows():
            hits.append(r["ci_low"] <= truth[r["arm"]] <= r["ci_high"])
    assert np.mean(hits) >= 0.75, hits
