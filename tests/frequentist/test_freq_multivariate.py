"""``rma_mv`` (known V) against metafor's rma.mv reference output."""

from __future__ import annotations

import numpy as np
import pytest
from freq_refcases import all_equal, load_case

from bayes_bijstand.frequentist.effects import escalc
from bayes_bijstand.frequentist.meta import rma
from bayes_bijstand.frequentist.multivariate import (
    RandomInnerOuter,
    RandomIntercept,
    nested,
    rma_mv,
)


@pytest.fixture(scope="module")
def kon() -> dict:
    return load_case("konstantopoulos2011_three_level")


def test_three_level_reml(kon: dict) -> None:
    t = kon["data"]["dat.konstantopoulos2011"]
    r = rma_mv(t["yi"], t["vi"], random="~ 1 | district/study", data=t)
    e = kon["expected"]["REML_3level_highprec"]
    assert r.beta[0] == pytest.approx(e["estimate"], abs=1e-6)
    assert r.se[0] == pytest.approx(e["se"], abs=1e-6)
    np.testing.assert_allclose(r.sigma2, e["sigma2"], atol=1e-6)
    e = kon["expected"]["REML_3level"]
    assert r.loglik == pytest.approx(e["logLik"], abs=1e-4)
    assert r.sigma2[0] / r.sigma2.sum() == pytest.approx(e["ICC"], abs=1e-4)
    e = kon["expected"]["REML_3level_print"]
    assert r.sigma2_nlevels == tuple(e["nlvls"])
    assert r.QE == pytest.approx(e["QE"], abs=5e-4)
    assert r.QE_df == e["QE_df"]
    for got, key in [(r.stat[0], "zval"), (r.pval[0], "pval"), (r.ci_low[0], "ci_lb"),
                     (r.ci_high[0], "ci_ub")]:
        assert got == pytest.approx(e[key], abs=5e-4), key
    s = r.summary()
    assert list(s.columns[:6]) == ["estimate", "se", "ci_low", "ci_high", "ci_prob", "method"]


def test_three_level_ml_and_moderator(kon: dict) -> None:
    t = kon["data"]["dat.konstantopoulos2011"]
    rand = nested(t["district"], t["study"], names=["district", "study"])
    r = rma_mv(t["yi"], t["vi"], random=rand, method="ML")
    e = kon["expected"]["ML_3level"]
    p = r.predict().iloc[0]
    assert all_equal([r.beta[0], r.se[0], *r.sigma2, p["pi_low"], p["pi_high"]],
                     [e["estimate"], e["se"], *e["sigma2"], e["pi_lb"], e["pi_ub"]], 0.01)
    np.testing.assert_allclose([r.beta[0], r.se[0], *r.sigma2, p["pi_low"], p["pi_high"]],
                               [e["estimate"], e["se"], *e["sigma2"], e["pi_lb"], e["pi_ub"]],
                               atol=1e-4)
    year = np.asarray(t["year"], float)
    X = np.column_stack([np.ones(year.size), year - year.mean()])
    r = rma_mv(t["yi"], t["vi"], X=X, random=rand, method="ML")
    e = kon["expected"]["ML_3level_year"]
    np.testing.assert_allclose(r.beta, e["estimate"], atol=1e-4)
    np.testing.assert_allclose(r.se, e["se"], atol=1e-4)
    np.testing.assert_allclose(r.sigma2, e["sigma2"], atol=1e-4)


def test_cs_parametrisation_equals_three_level(kon: dict) -> None:
    t = kon["data"]["dat.konstantopoulos2011"]
    r = rma_mv(t["yi"], t["vi"], random=RandomInnerOuter(t["study"], t["district"], "CS",
                                                          name="study|district"))
    e = kon["expected"]["REML_3level_mv_param"]
    assert r.beta[0] == pytest.approx(e["estimate"], abs=1e-4)
    assert r.se[0] == pytest.approx(e["se"], abs=1e-4)
    assert r.tau2("study|district")[0] == pytest.approx(e["tau2"], abs=1e-4)
    assert r.rho("study|district")[0, 1] == pytest.approx(e["rho"], abs=1e-4)
    assert r.loglik == pytest.approx(e["logLik"], abs=1e-4)


def test_two_level_rma_mv_equals_rma(kon: dict) -> None:
    t = kon["data"]["dat.konstantopoulos2011"]
    mv = rma_mv(t["yi"], t["vi"], random=RandomIntercept(t["study"]))
    uni = rma(t["yi"], t["vi"])
    e = kon["expected"]["RE_2level_rma_mv"]
    assert all_equal([mv.beta[0], mv.se[0], mv.sigma2[0]], [e["estimate"], e["se"], e["sigma2"]],
                     0.01)
    assert mv.sigma2[0] == pytest.approx(uni.tau2, abs=1e-6)
    assert mv.beta[0] == pytest.approx(uni.beta[0], abs=1e-6)
    assert mv.loglik == pytest.approx(uni.loglik, abs=1e-6)


@pytest.fixture(scope="module")
def berkey() -> dict:
    case = load_case("berkey1998_multivariate_two_outcomes")
    t = case["data"]["dat.berkey1998"]
    k = len(t["yi"])
    V = np.zeros((k, k))
    for i in range(0, k, 2):  # rows come in (PD, AL) pairs per trial
        V[i:i + 2, i:i + 2] = [[t["v1i"][i], t["v2i"][i]], [t["v1i"][i + 1], t["v2i"][i + 1]]]
    out = np.array(t["outcome"])
    case["V"] = V
    case["X"] = np.column_stack([out == "AL", out == "PD"]).astype(float)
    case["rand"] = RandomInnerOuter(inner=t["outcome"], outer=t["trial"], struct="UN",
                                    name="outcome|trial")
    return case


def test_berkey_ml(berkey: dict) -> None:
    t = berkey["data"]["dat.berkey1998"]
    r = rma_mv(t["yi"], berkey["V"], X=berkey["X"], random=berkey["rand"], method="ML",
               coef_names_=["outcomeAL", "outcomePD"])
    e = berkey["expected"]["ML"]
    assert r.G_levels["outcome|trial"] == ("AL", "PD")
    got = [*r.beta, *r.se, *r.tau2("outcome|trial"), r.rho("outcome|trial")[0, 1]]
    exp = [*e["estimate"], *e["se"], *e["tau2"], e["rho"]]
    assert all_equal(got, exp, 0.01)
    np.testing.assert_allclose(got, exp, atol=1e-4)


def test_berkey_ml_year(berkey: dict) -> None:
    t = berkey["data"]["dat.berkey1998"]
    yr = np.asarray(t["year"], float) - 1983
    X = np.column_stack([berkey["X"], berkey["X"] * yr[:, None]])
    r = rma_mv(t["yi"], berkey["V"], X=X, random=berkey["rand"], method="ML")
    e = berkey["expected"]["ML_year"]
    rho = r.rho("outcome|trial")[0, 1]
    tau2 = r.tau2("outcome|trial")
    got = [*r.beta, *r.se, *tau2, rho, rho * np.sqrt(tau2.prod())]
    exp = [*e["estimate"], *e["se"], *e["tau2"], e["rho"], e["cov_tau"]]
    assert all_equal(got, exp, 0.01)
    assert r.QE == pytest.approx(e["QE_3dec"], abs=5e-4)
    assert r.QM == pytest.approx(e["QM_3dec"], abs=5e-3)  # QM printed 143.43
    np.testing.assert_allclose(r.stat, e["zval_3dec"], atol=5e-4)


def test_berkey_reml_and_contrast(berkey: dict) -> None:
    t = berkey["data"]["dat.berkey1998"]
    r = rma_mv(t["yi"], berkey["V"], X=berkey["X"], random=berkey["rand"])
    e = berkey["expected"]["REML"]
    np.testing.assert_allclose(r.tau2("outcome|trial"), e["tau2"], atol=5e-4)
    np.testing.assert_allclose(np.sqrt(r.tau2("outcome|trial")), e["tau"], atol=5e-4)
    assert r.rho("outcome|trial")[0, 1] == pytest.approx(e["rho"], abs=5e-4)
    assert r.QE == pytest.approx(e["QE"], abs=5e-4)
    assert r.QM == pytest.approx(e["QM"], abs=5e-4)
    for attr, key in [("beta", "estimate"), ("se", "se"), ("stat", "zval"),
                      ("ci_low", "ci_lb"), ("ci_high", "ci_ub")]:
        np.testing.assert_allclose(getattr(r, attr), e[key], atol=5e-4, err_msg=attr)
    c = r.contrast([[1, -1]]).iloc[0]
    e = berkey["expected"]["REML_contrast"]
    assert c["estimate"] == pytest.approx(e["estimate"], abs=1e-4)
    assert c["se"] == pytest.approx(e["se"], abs=1e-4)
    assert c["stat"] == pytest.approx(e["zval"], abs=1e-3)
    assert c["QM"] == pytest.approx(e["QM"], abs=1e-3)


def _shared_control_V(study: np.ndarray, vi: np.ndarray, cov: np.ndarray) -> np.ndarray:
    same = study[:, None] == study[None, :]
    V = np.where(same, cov[:, None] * np.ones_like(vi)[None, :], 0.0)
    np.fill_diagonal(V, vi)
    return V


@pytest.mark.parametrize("measure", ["RD", "OR", "RR", "AS"])
def test_gleser_multiarm_shared_control(measure: str) -> None:
    case = load_case("gleser2009_multiarm_shared_control")
    t = case["data"]["multi_treatment_binary"]
    a, n1 = np.asarray(t["ai"], float), np.asarray(t["n1i"], float)
    es = escalc(measure, ai=t["ai"], n1i=t["n1i"], ci=t["ci"], n2i=t["n2i"])
    pc = a / n1  # group 1 is the shared control arm
    cov = {"RD": pc * (1 - pc) / n1, "OR": 1 / (n1 * pc * (1 - pc)), "RR": (1 - pc) / (n1 * pc),
           "AS": 1 / (4 * n1)}[measure]
    study = np.asarray(t["study"])
    V = _shared_control_V(study, es.vi, cov)
    trt = np.asarray(t["trt"])
    X = np.column_stack([trt == j for j in (1, 2, 3)]).astype(float)
    r = rma_mv(es.yi, V, X=X)
    e = case["expected"][measure]
    if measure == "AS":
        assert all_equal(2 * es.yi, e["yi_times_2"], 0.01)
        assert all_equal(2 * r.beta, e["estimate_times_2"], 0.01)
        assert all_equal(4 * r.vcov, e["vcov_times_4"], 0.01)
    elif measure == "RD":
        assert all_equal(es.yi, e["yi"], 0.01)
        assert all_equal(r.beta, e["estimate"], 0.01)
        assert all_equal(1e6 * r.vcov, e["vcov_times_1e6"], 0.01)
    else:
        assert all_equal(es.yi, e["yi"], 0.01)
        assert all_equal(r.beta, e["estimate"], 0.01)
        assert all_equal(r.vcov, e["vcov"], 0.01)
    assert r.QE == pytest.approx(e["QE"], rel=1e-3)


def test_gleser_multiple_endpoint() -> None:
    case = load_case("gleser2009_multiarm_shared_control")
    t = case["data"]["multiple_endpoint"]
    m1, m2, sd = (np.asarray(t[c], float) for c in ("m1i", "m2i", "sdpi"))
    n1, n2, ri = (np.asarray(t[c], float) for c in ("n1i", "n2i", "ri"))
    yi = np.round((m2 - m1) / sd, 3)
    vi = np.round(1 / n1 + 1 / n2 + yi**2 / (2 * (n1 + n2)), 4)
    V = np.diag(vi)
    for i in range(0, yi.size, 2):
        c = np.round((1 / n1[i] + 1 / n2[i]) * ri[i]
                     + (yi[i] * yi[i + 1] / (2 * (n1[i] + n2[i]))) * ri[i] ** 2, 4)
        V[i, i + 1] = V[i + 1, i] = c
    out = np.asarray(t["outcome"])
    X = np.column_stack([out == "math", out == "reading"]).astype(float)
    r = rma_mv(yi, V, X=X)
    e = case["expected"]["SMD_multiple_endpoint"]
    assert all_equal(r.beta, e["estimate"], 0.01)
    assert all_equal(r.vcov, e["vcov"], 0.01)
    assert r.QE == pytest.approx(e["QE"], rel=1e-3)
