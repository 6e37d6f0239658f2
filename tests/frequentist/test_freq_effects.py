"""Effect sizes, Mantel-Haenszel/Peto pooling and two-proportion tests."""

from __future__ import annotations

import numpy as np
import pytest
from freq_refcases import all_equal, load_case
from scipy import stats

from bayes_bijstand.frequentist.effects import (
    escalc,
    mantel_haenszel,
    newcombe_interval,
    peto,
    two_proportions,
)
from bayes_bijstand.frequentist.meta import rma


@pytest.fixture(scope="module")
def bcg2x2() -> dict:
    case = load_case("bcg_2x2_or_rd_mh_peto")
    d = case["data"]["dat.bcg"]
    case["cells"] = dict(ai=d["tpos"], bi=d["tneg"], ci=d["cpos"], di=d["cneg"])
    return case


def _get(obj: object, keys: list[str]) -> list[float]:
    m = {"estimate": "estimate", "ci_lb": "ci_low", "ci_ub": "ci_high", "zval": "zval",
         "QE": "QE", "I2": "I2", "H2": "H2", "se": "se", "QE_df": "QE_df", "CMH": "CMH",
         "Tarone_X2": "tarone", "Tarone_df": "tarone_df"}
    out = []
    for k in keys:
        if k.startswith("exp_"):
            base = {"exp_estimate": "estimate", "exp_ci_lb": "ci_low", "exp_ci_ub": "ci_high"}[k]
            out.append(float(np.exp(getattr(obj, base))))
        else:
            out.append(float(getattr(obj, m[k])))
    return out


@pytest.mark.parametrize("measure", ["OR", "RR", "RD"])
def test_mantel_haenszel(bcg2x2: dict, measure: str) -> None:
    res = mantel_haenszel(measure, **bcg2x2["cells"])
    e = bcg2x2["expected"][f"MH_{measure}"]
    keys = list(e)
    got = _get(res, keys)
    tol = bcg2x2["tolerance"][f"MH_{measure}"]
    if "abs" in tol:
        for k, g in zip(keys, got, strict=True):
            lim = 0.005 if k in ("I2", "H2") else tol["abs"]
            assert g == pytest.approx(e[k], abs=lim), k
    else:
        assert all_equal(got, [e[k] for k in keys], tol["rel"])


def test_peto(bcg2x2: dict) -> None:
    res = peto(**bcg2x2["cells"])
    e = bcg2x2["expected"]["Peto_OR"]
    for k, g in zip(e, _get(res, list(e)), strict=True):
        assert g == pytest.approx(e[k], abs=0.005 if k in ("I2", "H2") else 1e-4), k


@pytest.mark.parametrize("measure", ["OR", "RD"])
def test_escalc_then_rma(bcg2x2: dict, measure: str) -> None:
    es = escalc(measure, **bcg2x2["cells"])
    for method in ("EE", "DL"):
        r = rma(es.yi, es.vi, method=method)
        e = bcg2x2["expected"][f"{measure}_{method}"]
        got, exp = [], []
        for k, v in e.items():
            val = {"estimate": r.beta[0], "ci_lb": r.ci_low[0], "ci_ub": r.ci_high[0],
                   "zval": r.stat[0], "QE": r.QE, "tau2": r.tau2, "I2": r.I2,
                   "exp_pred": np.exp(r.beta[0]), "exp_ci_lb": np.exp(r.ci_low[0]),
                   "exp_ci_ub": np.exp(r.ci_high[0])}[k]
            got.append(val)
            exp.append(v)
        assert all_equal(got, exp, 0.01), (measure, method)


def test_continuity_correction_only0() -> None:
    es = escalc("OR", ai=[0, 5], bi=[10, 5], ci=[3, 4], di=[7, 6])
    assert list(es.corrected) == [1.0, 0.0]
    assert es.yi[0] == pytest.approx(np.log(0.5 * 7.5 / (10.5 * 3.5)))
    assert es.vi[0] == pytest.approx(1 / 0.5 + 1 / 10.5 + 1 / 3.5 + 1 / 7.5)
    assert es.yi[1] == pytest.approx(np.log(5 * 6 / (5 * 4)))
    rr = escalc("RR", ai=[0], n1i=[10], ci=[3], n2i=[10], to="none")
    assert np.isneginf(rr.yi[0])
    rd = escalc("RD", ai=[0], n1i=[10], ci=[3], n2i=[10])
    assert rd.yi[0] == pytest.approx(0.5 / 11 - 3.5 / 11)


def test_tno_outflow_two_proportions() -> None:
    """TNO outflow contrast 18/207 vs 9/119: 'not significant by chi-square'."""
    res = two_proportions(18, 207, 9, 119)
    table = np.array([[18, 189], [9, 110]])
    chi2, p, _, _ = stats.chi2_contingency(table, correction=False)
    assert res.chi2 == pytest.approx(chi2) and res.chi2_p == pytest.approx(p)
    # hand computation of Pearson's X² and Yates' corrected statistic
    n = table.sum()
    det = 18 * 110 - 189 * 9
    margins = 207 * 119 * 27 * 299
    assert res.chi2 == pytest.approx(n * det**2 / margins)
    assert res.chi2_yates == pytest.approx(n * (abs(det) - n / 2) ** 2 / margins)
    assert res.chi2_p > 0.05 and res.chi2_yates_p > 0.05 and res.fisher_p > 0.05
    assert res.diff == pytest.approx(18 / 207 - 9 / 119)
    lo, hi = res.wald_ci
    assert lo < 0 < hi
    from statsmodels.stats.proportion import confint_proportions_2indep

    sm = confint_proportions_2indep(18, 207, 9, 119, method="newcomb", compare="diff")
    assert res.newcombe_ci == pytest.approx(sm, abs=1e-10)
    assert res.fisher_p == pytest.approx(stats.fisher_exact(table)[1])
    s = res.summary()
    assert set(s["method"]) == {"wald", "newcombe"}
    assert list(s.columns[:6]) == ["estimate", "se", "ci_low", "ci_high", "ci_prob", "method"]


def test_newcombe_matches_statsmodels_edge_counts() -> None:
    from statsmodels.stats.proportion import confint_proportions_2indep

    for x1, n1, x2, n2 in [(0, 20, 5, 20), (20, 20, 1, 30), (3, 7, 3, 7)]:
        ours = newcombe_interval(x1, n1, x2, n2)
        sm = confint_proportions_2indep(x1, n1, x2, n2, method="newcomb", compare="diff")
        assert ours == pytest.approx(sm, abs=1e-10)


def test_mh_matches_statsmodels(bcg2x2: dict) -> None:
    from statsmodels.stats.contingency_tables import StratifiedTable

    c = bcg2x2["cells"]
    tables = [np.array([[a, b], [cc, d]]) for a, b, cc, d in
              zip(c["ai"], c["bi"], c["ci"], c["di"], strict=True)]
    st = StratifiedTable(tables)
    res = mantel_haenszel("OR", **c)
    assert res.estimate == pytest.approx(st.logodds_pooled)
    assert res.se == pytest.approx(st.logodds_pooled_se)
    assert res.CMH == pytest.approx(st.test_null_odds(correction=True).statistic)
