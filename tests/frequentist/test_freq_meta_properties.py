"""First-principles checks of ``rma`` that do not rely on reference output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_bijstand.frequentist._common import MetaAnalysisError
from bayes_bijstand.frequentist.meta import (
    METHODS,
    confint_tau2,
    influence,
    leave1out,
    q_generalised,
    rma,
)

RANDOM_METHODS = [m for m in METHODS if m not in ("FE", "EE", "GENQ")]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20240611)
    k = 12
    vi = rng.uniform(0.01, 0.1, k)
    yi = 0.3 + rng.normal(0, np.sqrt(0.05), k) + rng.normal(0, np.sqrt(vi))
    return yi, vi


def test_reml_close_to_ml_for_large_k() -> None:
    rng = np.random.default_rng(1)
    k = 3000
    vi = rng.uniform(0.02, 0.2, k)
    yi = -0.2 + rng.normal(0, 0.3, k) + rng.normal(0, np.sqrt(vi))
    reml, ml = rma(yi, vi, method="REML"), rma(yi, vi, method="ML")
    # REML corrects ML's O(p/k) downward bias only
    assert reml.tau2 == pytest.approx(ml.tau2, rel=2e-3)
    assert reml.tau2 >= ml.tau2
    assert reml.beta[0] == pytest.approx(ml.beta[0], abs=1e-4)
    assert reml.tau2 == pytest.approx(0.09, rel=0.1)


@pytest.mark.parametrize("method", RANDOM_METHODS)
def test_homogeneous_data_give_zero_tau2(method: str) -> None:
    # identical estimates: Q = 0, every estimator is truncated at / converges to 0
    vi = np.array([0.02, 0.05, 0.1, 0.03, 0.07])
    yi = np.full(5, 0.4)
    r = rma(yi, vi, method=method)
    assert r.tau2 == pytest.approx(0.0, abs=1e-10)
    assert r.I2 == pytest.approx(0.0, abs=1e-8)
    assert r.H2 == pytest.approx(1.0)
    fe = rma(yi, vi, method="FE")
    assert r.beta[0] == pytest.approx(fe.beta[0])
    assert r.se[0] == pytest.approx(fe.se[0], rel=1e-6)
    ci = confint_tau2(r)
    assert ci.tau2_ci == (0.0, 0.0)


@pytest.mark.parametrize("method", ["REML", "ML", "DL", "PM", "HE", "HS", "EB"])
def test_underdispersed_data_truncate_at_zero(method: str) -> None:
    vi = np.full(6, 0.1)
    yi = np.array([0.01, -0.01, 0.02, 0.0, -0.02, 0.01])  # Q << k - 1
    assert rma(yi, vi, method=method).tau2 == 0.0


def test_knha_widens_interval_when_q_exceeds_df(data: tuple[np.ndarray, np.ndarray]) -> None:
    yi, vi = data
    for method in ("REML", "DL", "EE"):
        z = rma(yi, vi, method=method)
        kh = rma(yi, vi, method=method, test="knha")
        qgen = q_generalised(z.tau2, yi, vi)
        assert kh.s2w == pytest.approx(qgen / (z.k - 1))
        assert kh.se[0] == pytest.approx(z.se[0] * np.sqrt(kh.s2w))
        if kh.s2w > 1:
            assert kh.ci_high[0] - kh.ci_low[0] > z.ci_high[0] - z.ci_low[0]
        assert kh.df == z.k - 1


def test_knha_not_truncated_when_q_below_df() -> None:
    vi = np.full(8, 0.1)
    yi = np.array([0.1, 0.15, 0.05, 0.12, 0.08, 0.11, 0.09, 0.1])
    z = rma(yi, vi, method="DL")
    kh = rma(yi, vi, method="DL", test="knha")
    assert kh.s2w < 1  # metafor's KNHA: no max(1, .) truncation
    assert kh.se[0] < z.se[0]


def test_leave1out_matches_refit(data: tuple[np.ndarray, np.ndarray]) -> None:
    yi, vi = data
    r = rma(yi, vi)
    l1o = leave1out(r)
    assert len(l1o) == r.k
    for i in range(r.k):
        keep = np.arange(r.k) != i
        ref = rma(yi[keep], vi[keep])
        row = l1o.iloc[i]
        assert row["omitted"] == i
        assert row["estimate"] == pytest.approx(ref.beta[0], abs=1e-12)
        assert row["se"] == pytest.approx(ref.se[0], abs=1e-12)
        assert row["tau2"] == pytest.approx(ref.tau2, abs=1e-12)
        assert row["Q"] == pytest.approx(ref.QE, abs=1e-10)
        assert row["I2"] == pytest.approx(ref.I2, abs=1e-10)


def test_influence_definitions(data: tuple[np.ndarray, np.ndarray]) -> None:
    yi, vi = data
    r = rma(yi, vi)
    inf = influence(r)
    assert list(inf.columns[:9]) == ["study", "rstudent", "dffits", "cook_d", "cov_r",
                                     "tau2_del", "QE_del", "hat", "weight"]
    assert inf["weight"].sum() == pytest.approx(100.0)
    assert inf["hat"].sum() == pytest.approx(r.p)  # trace of the hat matrix
    i = int(np.argmax(np.abs(yi - r.beta[0])))
    keep = np.arange(r.k) != i
    d = rma(yi[keep], vi[keep])
    row = inf.iloc[i]
    assert row["tau2_del"] == pytest.approx(d.tau2)
    assert row["QE_del"] == pytest.approx(d.QE)
    assert row["rstudent"] == pytest.approx((yi[i] - d.beta[0]) / np.sqrt(vi[i] + d.tau2
                                                                           + d.se[0] ** 2))
    assert row["cov_r"] == pytest.approx(d.se[0] ** 2 / r.se[0] ** 2)
    assert row["cook_d"] == pytest.approx((r.beta[0] - d.beta[0]) ** 2 / r.se[0] ** 2)
    assert row["dffits"] == pytest.approx(
        (r.beta[0] - d.beta[0]) / np.sqrt(row["hat"] * (d.tau2 + vi[i])))


def test_influence_with_moderators(data: tuple[np.ndarray, np.ndarray]) -> None:
    yi, vi = data
    x = np.linspace(0, 1, yi.size)
    r = rma(yi, vi, mods=x, mod_names=["x"])
    inf = influence(r)
    assert {"dfbetas_intrcpt", "dfbetas_x"} <= set(inf.columns)
    l1o = leave1out(r)
    assert len(l1o) == 2 * r.k and set(l1o["term"]) == {"intrcpt", "x"}


def test_edge_cases_k1_k2() -> None:
    r1 = rma([0.3], [0.04])
    assert r1.tau2 == 0.0 and r1.beta[0] == pytest.approx(0.3)
    assert r1.se[0] == pytest.approx(0.2)
    assert r1.notes
    r1.summary()
    for method in RANDOM_METHODS:
        r2 = rma([0.1, 0.5], [0.02, 0.03], method=method)
        assert np.isfinite(r2.beta[0]) and r2.tau2 >= 0
    kh = rma([0.1, 0.5], [0.02, 0.03], test="knha")
    assert kh.df == 1 and np.isfinite(kh.ci_low[0])
    with pytest.raises(MetaAnalysisError):
        rma([0.1, 0.5], [0.02, 0.03], mods=[0.0, 1.0])  # k = p: tau² not estimable
    fe = rma([0.1, 0.5], [0.02, 0.03], mods=[0.0, 1.0], method="FE")
    assert fe.QE == 0.0


def test_input_errors() -> None:
    with pytest.raises(MetaAnalysisError):
        rma([0.1, 0.2], [0.1])
    with pytest.raises(MetaAnalysisError):
        rma([0.1, 0.2], [0.1, -0.1])
    with pytest.raises(MetaAnalysisError):
        rma([0.1, np.nan], [0.1, 0.1])
    with pytest.raises(MetaAnalysisError):
        rma([0.1, 0.2], [0.1, 0.1], method="XYZ")
    with pytest.raises(ValueError):
        rma([0.1, 0.2, 0.3], [0.1, 0.1, 0.1], test="t")


def test_summary_and_dataframe_mods(data: tuple[np.ndarray, np.ndarray]) -> None:
    yi, vi = data
    mods = pd.DataFrame({"dose": np.arange(yi.size, dtype=float)})
    r = rma(yi, vi, mods=mods)
    assert r.coef_names == ("intrcpt", "dose")
    s = r.summary()
    assert list(s["term"]) == ["intrcpt", "dose", "tau2"]
    assert (s["ci_low"] <= s["estimate"]).all() and (s["estimate"] <= s["ci_high"]).all()
    assert r.heterogeneity().shape[0] == 1


@pytest.mark.parametrize("p", [1, 3])
def test_linear_time_traces_equal_the_k_by_k_matrix_algebra(p: int) -> None:
    """The O(k p²) traces behind DL/HS/HSk/GENQ/SJ/HE equal metafor's explicit P-matrix sums."""
    from bayes_bijstand.frequentist._common import wls_projection
    from bayes_bijstand.frequentist.meta import _p_traces

    rng = np.random.default_rng(7)
    k = 25
    X = np.hstack([np.ones((k, 1)), rng.normal(size=(k, p - 1))])
    v = rng.uniform(0.01, 0.2, k)
    w = rng.uniform(0.5, 3.0, k)
    y = rng.normal(size=k)
    P, _ = wls_projection(X, w)
    PV = P * v[None, :]
    got = _p_traces(X, w, y, v)
    want = dict(rss=y @ P @ y, trP=np.trace(P), trPP=np.sum(P * P), trPV=np.trace(PV),
                trPVPV=np.sum(PV * PV.T), trPPV=np.sum(PV * P))
    for name, value in want.items():
        assert getattr(got, name) == pytest.approx(value, rel=1e-10), name
