"""The delivered-treatment model: coach roles, formula rewriting, negative controls, recovery.

Negative control (the failure of the assignment model): in Groningen's Zelen design the
werkcoaches serve only participants of extra_hulp (and keuze-maatwerk), so coach intercepts
absorbed the arm effect (ITT AME +1.17 pp against a raw difference of +2.87 pp). With
sigma_coach = 0 the delivered model must reproduce the raw ITT and cover the true ITT.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

from bayes_bijstand.microdata import validate_microdata
from bayes_bijstand.models.person_level import (
    COACH_KEY,
    COACH_ON,
    COACHED,
    NO_DELIVERY,
    NO_GROUP,
    coach_roles,
    export_tree,
    fit_person,
    identification_report,
    prepare,
)
from bayes_bijstand.recovery import DELIVERED_FORMULA
from bayes_bijstand.simulate import simulate_microdata

ZELEN = {"gemeenten": ["groningen"], "groningen_fraction": 1.0, "tau": 0.0,
         "sigma_coach": 0.0, "effects": {"zelf_in_actie": 0.0, "extra_hulp": 2.0,
                                         "werken_loont": 0.0}}
FIT = {"draws": 300, "tune": 300, "chains": 2, "cores": 1, "sampler": "nutpie",
       "random_seed": 1, "formula": DELIVERED_FORMULA}


@pytest.fixture(scope="module")
def zelen_data() -> pd.DataFrame:
    """Groningen only, all 8,192 invited, extra_hulp effect 2.0 for participants (8.8%)."""
    return validate_microdata(simulate_microdata(seed=2017, **ZELEN))


@pytest.fixture(scope="module")
def zelen_fit(zelen_data):  # noqa: ANN001, ANN201
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_person(zelen_data, **FIT)


def test_coach_roles_and_delivery_columns(zelen_data) -> None:
    roles = coach_roles(zelen_data)
    exp = roles[roles["role"] == "experiment"]
    assert len(exp) == 5 and exp["coach"].str.startswith("gro_extra_hulp").all()
    assert set(roles.loc[roles["role"] == "caseworker", "coach"].str[:6]) == {"gro_km"}
    p = prepare(zelen_data, formula=DELIVERED_FORMULA)
    assert p.delivered and p.collapsed
    assert f"(0 + {COACH_ON} | {COACH_KEY})" in p.formula
    assert "caseworker_on | caseworker_key" in p.formula
    assert "| gemeente)" not in p.formula  # one gemeente: no between-gemeente terms
    f = p.frame
    cats = list(f["delivered"].cat.categories)
    assert cats[0] == NO_DELIVERY and "keuze" + COACHED in cats and "extra_hulp" in cats
    treated = f[f[COACH_ON] == 1]
    assert (treated["participated"] == 1).all() and (treated[COACH_KEY] != NO_GROUP).all()
    assert set(treated["arm"].astype(str)) == {"extra_hulp", "keuze"}
    none = f[f["delivered"] == NO_DELIVERY]
    assert ((none["participated"] == 0) | none["arm"].isin(["control", "reference"])).all()
    assert f["trials"].sum() == zelen_data["work_gt12h_m24"].notna().sum()


def test_identification_report_delivered(zelen_data) -> None:
    text = identification_report(zelen_data)
    assert "5 experiment coaches" in text and "Identified by the randomisation" in text
    assert "mediator" in text and "no bridge" in text
    assert re.search(r"groningen / extra_hulp: \d+ assigned, \d+ participants, 5 experiment",
                     text)
    small = zelen_data[zelen_data["person_id"].isin(zelen_data["person_id"].iloc[::400])]
    small.attrs.update(zelen_data.attrs)
    assert "<10" in identification_report(small)
    for n in re.findall(r"(\d+) (?:assigned|participants|clients)", identification_report(small)):
        assert int(n) >= 10


def _raw_itt(d: pd.DataFrame, arm: str) -> tuple[float, float]:
    y = d["work_gt12h_m24"].astype(float)
    t, c = y[d["arm"] == arm], y[d["arm"] == "control"]
    return 100 * (t.mean() - c.mean()), 100 * np.sqrt(t.var() / len(t) + c.var() / len(c))


def _true_itt(arm: str) -> float:
    """The ITT of the simulator's design in pp: the same persons with and without effect."""
    kw = {**ZELEN, "seed": 5, "scale": 10}
    a = simulate_microdata(**kw)
    b = simulate_microdata(**{**kw, "effects": {k: 0.0 for k in ZELEN["effects"]}})
    m = (a["arm"] == arm).to_numpy()
    return 100 * float(np.mean(a["work_gt12h_m24"].to_numpy(float)[m]
                               - b["work_gt12h_m24"].to_numpy(float)[m]))


@pytest.mark.slow
def test_negative_control_arm_exclusive_coaches_recover_raw_itt(zelen_data, zelen_fit) -> None:
    s = zelen_fit.summary().set_index(["term", "arm"])
    raw, raw_se = _raw_itt(zelen_data, "extra_hulp")
    ame = s.loc[("ame", "extra_hulp")]
    # The assignment model's coach intercepts took 1.7 pp (about 2 raw SEs) of a 2.9 pp ITT.
    assert abs(ame["estimate"] - raw) < 1.5 * raw_se, (ame["estimate"], raw, raw_se)
    truth = _true_itt("extra_hulp")  # about 3.1 pp
    assert ame["ci_low"] <= truth <= ame["ci_high"], (truth, ame)
    arm = s.loc[("arm", "extra_hulp")]
    assert arm["ci_low"] <= 2.0 <= arm["ci_high"]
    part = s.loc[("ame_participants", "extra_hulp")]
    take_up = zelen_data.loc[zelen_data["arm"] == "extra_hulp", "participated"].mean()
    assert ame["estimate"] == pytest.approx(take_up * part["estimate"], rel=0.02)
    assert s.loc[("sigma_coach", ""), "ci_low"] < 0.1  # true 0 lies near the interval
    assert int(zelen_fit.tree["sample_stats"]["diverging"].sum()) == 0


@pytest.mark.slow
def test_delivered_ame_direct_equals_bambi_predict(zelen_fit, monkeypatch) -> None:
    from bayes_bijstand.models import person_level as pl

    for participants in (False, True):
        fast = pl.average_marginal_effects(zelen_fit.model, zelen_fit.tree, zelen_fit.prepared,
                                           participants=participants)
        with monkeypatch.context() as m:
            m.setattr(pl, "_additive_terms", lambda f: None)
            slow = pl.average_marginal_effects(zelen_fit.model, zelen_fit.tree,
                                               zelen_fit.prepared, participants=participants)
        np.testing.assert_allclose(slow.values, fast.values, atol=1e-10)


@pytest.mark.slow
def test_exported_tree_has_no_ids_and_no_data(zelen_fit) -> None:
    tree = export_tree(zelen_fit)
    assert set(tree.children) == {"posterior", "sample_stats"}
    post = tree["posterior"].to_dataset()
    labels = [str(v) for d in post.dims if d.startswith(COACH_KEY) for v in post[d].values]
    assert labels and all(re.fullmatch(r"groningen/coach \d", v) for v in labels)
    assert not any(d.startswith("caseworker_key") for d in post.dims)
    text = " ".join(map(str, [*post.coords.values(), *post.attrs.values()]))
    assert "gro_" not in text
    effects = zelen_fit.coach_effects()
    shown = effects[~effects["suppressed"]]
    assert sorted(labels) == sorted("groningen/" + shown["coach"])
    assert (effects.loc[effects["suppressed"], "coach"] == "suppressed").all()


@pytest.mark.slow
def test_known_sigma_coach_is_recovered() -> None:
    """About 40 experiment coaches in six gemeenten, true SD of the delivered effect 0.6."""
    d = validate_microdata(simulate_microdata(
        gemeenten=["utrecht", "tilburg", "wageningen", "deventer", "oss", "nijmegen"],
        effects={"zelf_in_actie": 0.2, "extra_hulp": 0.5, "werken_loont": 0.3}, tau=0.1,
        sigma_coach=0.6, sigma_caseworker=0.2, seed=3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_person(d, **{**FIT, "target_accept": 0.9})
    s = res.summary().set_index(["term", "arm"])
    sc = s.loc[("sigma_coach", "")]
    assert sc["ci_low"] <= 0.6 <= sc["ci_high"] and sc["ci_low"] > 0.25, sc
    assert int(res.tree["sample_stats"]["diverging"].sum()) == 0
