"""Effect sizes from 2x2 tables, Mantel-Haenszel / Peto pooling and two-proportion tests.

What:

* :func:`escalc` -- log risk ratio (``"RR"``), log odds ratio (``"OR"``), risk difference
  (``"RD"``), arcsine-root difference (``"AS"``) and Peto log odds ratio (``"PETO"``) with
  their large-sample variances, as metafor's ``escalc()`` (group 1 = ``ai/bi``, group 2 =
  ``ci/di``; 0.5 added to every cell of tables that contain a zero, ``to="only0"``).
* :func:`mantel_haenszel` -- Mantel-Haenszel pooled OR/RR/RD (metafor ``rma.mh``:
  Robins-Breslow-Greenland variance for the OR, Greenland-Robins for the RR,
  Sato-Greenland-Robins for the RD), with Cochran's Q, I², H², the CMH test and Tarone's
  heterogeneity test (the latter from statsmodels).
* :func:`peto` -- Peto's one-step pooled log odds ratio (metafor ``rma.peto``).
* :func:`two_proportions` -- one 2x2 comparison: difference in proportions with Wald and
  Newcombe (hybrid Wilson score) intervals, Pearson chi-square with and without Yates'
  correction, Fisher's exact test, and the risk and odds ratios.

Why: the Dutch experiment reports mostly give counts (e.g. the TNO outflow contrast 18/207 vs
9/119 described as "not significant by chi-square"); to check such claims and to feed the
meta-analysis we need the same effect sizes and tests as the reports and as metafor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from ._common import (
    FloatArray,
    MetaAnalysisError,
    as_1d,
    check_level,
    critical_value,
    summary_frame,
    two_sided_p,
)

__all__ = [
    "EffectSizes",
    "MHResult",
    "PetoResult",
    "TwoProportionResult",
    "escalc",
    "mantel_haenszel",
    "newcombe_interval",
    "peto",
    "two_proportions",
    "wilson_interval",
]

Measure = Literal["RR", "OR", "RD", "AS", "PETO"]
To = Literal["only0", "all", "if0all", "none"]


# ---------------------------------------------------------------------------------------------
# Input handling
# ---------------------------------------------------------------------------------------------


def _tables(ai: ArrayLike, bi: ArrayLike | None, ci: ArrayLike, di: ArrayLike | None,
            n1i: ArrayLike | None, n2i: ArrayLike | None
            ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Return the four cell-count vectors, deriving ``bi``/``di`` from group sizes if needed."""
    a = as_1d("ai", ai)
    c = as_1d("ci", ci)
    if bi is None:
        if n1i is None:
            raise MetaAnalysisError("give either 'bi' or 'n1i'")
        b = as_1d("n1i", n1i) - a
    else:
        b = as_1d("bi", bi)
    if di is None:
        if n2i is None:
            raise MetaAnalysisError("give either 'di' or 'n2i'")
        d = as_1d("n2i", n2i) - c
    else:
        d = as_1d("di", di)
    sizes = {a.size, b.size, c.size, d.size}
    if len(sizes) != 1:
        raise MetaAnalysisError("all cell-count vectors must have the same length")
    for name, x in (("ai", a), ("bi", b), ("ci", c), ("di", d)):
        if np.any(x < 0):
            raise MetaAnalysisError(f"cell counts '{name}' must be >= 0")
    if np.any(a + b <= 0) or np.any(c + d <= 0):
        raise MetaAnalysisError("every group needs at least one participant")
    return a, b, c, d


# ---------------------------------------------------------------------------------------------
# escalc
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EffectSizes:
    """Study-level effect sizes ``yi`` and sampling variances ``vi`` (metafor ``escalc``).

    ``corrected`` flags the tables that received the continuity correction. ``yi`` is on the
    log scale for RR/OR/PETO.
    """

    measure: str
    yi: FloatArray
    vi: FloatArray
    corrected: FloatArray = field(repr=False)
    add: float = 0.5
    to: str = "only0"

    def frame(self) -> pd.DataFrame:
        """Per-study frame with ``yi, vi, sei, corrected``."""
        return pd.DataFrame(
            dict(yi=self.yi, vi=self.vi, sei=np.sqrt(self.vi),
                 corrected=self.corrected.astype(bool))
        )

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """Tidy per-study table with Wald confidence intervals (``study`` is 0-based)."""
        crit = critical_value(check_level(level), None)
        se = np.sqrt(self.vi)
        rows = [
            dict(estimate=float(y), se=float(s), ci_low=float(y - crit * s),
                 ci_high=float(y + crit * s), ci_prob=level, method=f"escalc-{self.measure}",
                 study=i, corrected=bool(self.corrected[i]))
            for i, (y, s) in enumerate(zip(self.yi, se, strict=True))
        ]
        return summary_frame(rows)


def escalc(
    measure: Measure | str,
    *,
    ai: ArrayLike,
    ci: ArrayLike,
    bi: ArrayLike | None = None,
    di: ArrayLike | None = None,
    n1i: ArrayLike | None = None,
    n2i: ArrayLike | None = None,
    add: float = 0.5,
    to: To | str = "only0",
) -> EffectSizes:
    """Effect sizes for 2x2 tables, like metafor ``escalc(measure, ai, bi, ci, di)``.

    Group 1 has ``ai`` events and ``bi`` non-events (or ``n1i`` in total), group 2 ``ci`` and
    ``di`` (or ``n2i``). Measures (group 1 relative to group 2):

    * ``"RR"``: ``log(p1/p2)``, ``v = 1/a - 1/n1 + 1/c - 1/n2``;
    * ``"OR"``: ``log(a d / (b c))``, ``v = 1/a + 1/b + 1/c + 1/d``;
    * ``"RD"``: ``p1 - p2``, ``v = p1(1-p1)/n1 + p2(1-p2)/n2``;
    * ``"AS"``: ``asin(sqrt(p1)) - asin(sqrt(p2))``, ``v = 1/(4 n1) + 1/(4 n2)``;
    * ``"PETO"``: ``(O - E)/V`` with hypergeometric ``E``, ``V``; ``v = 1/V``.

    Continuity correction (metafor defaults ``add=1/2, to="only0"``): ``"only0"`` adds ``add``
    to all four cells of tables with at least one zero cell, ``"all"`` to every table,
    ``"if0all"`` to every table if any table has a zero, ``"none"`` never. No correction is
    applied for ``"AS"`` and ``"PETO"``, which are finite with zero cells.
    """
    m = str(measure).upper()
    if m not in ("RR", "OR", "RD", "AS", "PETO"):
        raise MetaAnalysisError(f"unknown measure {measure!r}; use RR, OR, RD, AS or PETO")
    if to not in ("only0", "all", "if0all", "none"):
        raise MetaAnalysisError(f"unknown 'to' value {to!r}")
    a, b, c, d = _tables(ai, bi, ci, di, n1i, n2i)
    has0 = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    if m in ("AS", "PETO") or to == "none":
        corr = np.zeros(a.size, dtype=bool)
    elif to == "all":
        corr = np.ones(a.size, dtype=bool)
    elif to == "if0all":
        corr = np.full(a.size, bool(has0.any()))
    else:
        corr = has0
    addv = np.where(corr, float(add), 0.0)
    a, b, c, d = a + addv, b + addv, c + addv, d + addv
    n1, n2 = a + b, c + d
    p1, p2 = a / n1, c / n2
    with np.errstate(divide="ignore", invalid="ignore"):
        if m == "RR":
            yi = np.log(p1) - np.log(p2)
            vi = 1 / a - 1 / n1 + 1 / c - 1 / n2
        elif m == "OR":
            yi = np.log(a * d / (b * c))
            vi = 1 / a + 1 / b + 1 / c + 1 / d
        elif m == "RD":
            yi = p1 - p2
            vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
        elif m == "AS":
            yi = np.arcsin(np.sqrt(p1)) - np.arcsin(np.sqrt(p2))
            vi = 1 / (4 * n1) + 1 / (4 * n2)
        else:
            n = n1 + n2
            m1 = a + c
            e = n1 * m1 / n
            var = n1 * n2 * m1 * (n - m1) / (n**2 * (n - 1))
            yi = (a - e) / var
            vi = 1 / var
    return EffectSizes(measure=m, yi=np.asarray(yi, float), vi=np.asarray(vi, float),
                       corrected=corr.astype(float), add=float(add), to=str(to))


# ---------------------------------------------------------------------------------------------
# Mantel-Haenszel and Peto
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MHResult:
    """Mantel-Haenszel pooled estimate (metafor ``rma.mh``).

    ``estimate`` is on the log scale for OR/RR (exponentiate for the ratio) and the raw scale
    for RD. ``QE`` is Cochran's Q of the study-level escalc estimates around the MH estimate.
    ``CMH`` (continuity-corrected) and Tarone's test are only defined for the OR.
    """

    measure: str
    level: float
    k: int
    estimate: float
    se: float
    zval: float
    pval: float
    ci_low: float
    ci_high: float
    QE: float
    QE_df: int
    QE_p: float
    I2: float
    H2: float
    CMH: float | None = None
    CMH_p: float | None = None
    tarone: float | None = None
    tarone_df: int | None = None
    tarone_p: float | None = None

    def summary(self) -> pd.DataFrame:
        """One-row tidy frame (log scale for OR/RR) with test statistics as extras."""
        return summary_frame([
            dict(estimate=self.estimate, se=self.se, ci_low=self.ci_low, ci_high=self.ci_high,
                 ci_prob=self.level, method=f"MH-{self.measure}", term=self.measure,
                 stat=self.zval, p_value=self.pval, k=self.k, QE=self.QE, QE_p=self.QE_p,
                 I2=self.I2, H2=self.H2, CMH=self.CMH, CMH_p=self.CMH_p,
                 tarone=self.tarone, tarone_p=self.tarone_p)
        ])


def _q_i2(yi: FloatArray, vi: FloatArray, theta: float) -> tuple[float, int, float, float, float]:
    """Cochran's Q around ``theta`` with df k-1, its p-value and the Q-based I², H²."""
    ok = np.isfinite(yi) & np.isfinite(vi) & (vi > 0)
    q = float(np.sum((yi[ok] - theta) ** 2 / vi[ok]))
    dfq = int(ok.sum()) - 1
    if dfq <= 0:
        return q, dfq, float("nan"), 0.0, 1.0
    i2 = max(0.0, 100.0 * (q - dfq) / q) if q > 0 else 0.0
    return q, dfq, float(stats.chi2.sf(q, dfq)), i2, q / dfq


def mantel_haenszel(
    measure: Literal["OR", "RR", "RD"] | str,
    *,
    ai: ArrayLike,
    ci: ArrayLike,
    bi: ArrayLike | None = None,
    di: ArrayLike | None = None,
    n1i: ArrayLike | None = None,
    n2i: ArrayLike | None = None,
    level: float = 0.95,
    correct: bool = True,
) -> MHResult:
    """Mantel-Haenszel pooled OR, RR or RD across k 2x2 tables (metafor ``rma.mh``).

    Variances: Robins-Breslow-Greenland (log OR), Greenland-Robins (log RR),
    Sato-Greenland-Robins (RD; Stata's ``metan`` uses Greenland-Robins instead). Q, I², H² use
    the study-level escalc estimates of the same measure (``to="only0"`` correction). For the OR
    also the Cochran-Mantel-Haenszel test (``correct``: with 1/2 continuity correction) and
    Tarone's test for homogeneity of odds ratios (statsmodels ``StratifiedTable``).
    """
    m = str(measure).upper()
    if m not in ("OR", "RR", "RD"):
        raise MetaAnalysisError(f"Mantel-Haenszel supports OR, RR and RD, not {measure!r}")
    level = check_level(level)
    a, b, c, d = _tables(ai, bi, ci, di, n1i, n2i)
    n1, n2 = a + b, c + d
    n = n1 + n2
    extra: dict[str, Any] = {}
    if m == "OR":
        R = a * d / n
        S = b * c / n
        P = (a + d) / n
        Q = (b + c) / n
        sR, sS = R.sum(), S.sum()
        if sR <= 0 or sS <= 0:
            raise MetaAnalysisError("MH odds ratio undefined (all ad or all bc products are 0)")
        est = float(np.log(sR / sS))
        var = (np.sum(P * R) / (2 * sR**2) + np.sum(P * S + Q * R) / (2 * sR * sS)
               + np.sum(Q * S) / (2 * sS**2))
        m1 = a + c
        ea = n1 * m1 / n
        va = n1 * n2 * m1 * (n - m1) / (n**2 * (n - 1))
        dev = abs(float(np.sum(a - ea)))
        if correct:
            dev = max(0.0, dev - 0.5)
        cmh = dev**2 / float(np.sum(va))
        extra.update(CMH=cmh, CMH_p=float(stats.chi2.sf(cmh, 1)))
        try:
            from statsmodels.stats.contingency_tables import StratifiedTable

            tables = np.stack([np.array([[a[i], b[i]], [c[i], d[i]]]) for i in range(a.size)],
                              axis=2)
            bd = StratifiedTable(tables).test_equal_odds(adjust=True)
            extra.update(tarone=float(bd.statistic), tarone_df=a.size - 1,
                         tarone_p=float(bd.pvalue))
        except Exception:  # pragma: no cover - statsmodels failure only affects the extra
            pass
    elif m == "RR":
        R = a * n2 / n
        S = c * n1 / n
        sR, sS = R.sum(), S.sum()
        if sR <= 0 or sS <= 0:
            raise MetaAnalysisError("MH risk ratio undefined (no events in one group)")
        est = float(np.log(sR / sS))
        var = float(np.sum((n1 * n2 * (a + c) - a * c * n) / n**2)) / (sR * sS)
    else:
        w = n1 * n2 / n
        est = float(np.sum((a * n2 - c * n1) / n) / w.sum())
        Pi = (c * n1**2 - a * n2**2 + n1 * n2 * (n2 - n1) / 2) / n**2
        Qi = (a * (n2 - c) + c * (n1 - a)) / (2 * n)
        var = float((est * Pi.sum() + Qi.sum()) / w.sum() ** 2)
    se = float(np.sqrt(var))
    z = est / se
    crit = critical_value(level, None)
    es = escalc(m, ai=a, bi=b, ci=c, di=d)
    q, dfq, qp, i2, h2 = _q_i2(es.yi, es.vi, est)
    return MHResult(
        measure=m, level=level, k=int(a.size), estimate=est, se=se, zval=float(z),
        pval=float(two_sided_p(z, None)), ci_low=est - crit * se, ci_high=est + crit * se,
        QE=q, QE_df=dfq, QE_p=qp, I2=i2, H2=h2, **extra,
    )


@dataclass(frozen=True)
class PetoResult:
    """Peto's one-step pooled log odds ratio (metafor ``rma.peto``)."""

    level: float
    k: int
    estimate: float
    se: float
    zval: float
    pval: float
    ci_low: float
    ci_high: float
    QE: float
    QE_df: int
    QE_p: float
    I2: float
    H2: float

    def summary(self) -> pd.DataFrame:
        """One-row tidy frame (log odds ratio scale)."""
        return summary_frame([
            dict(estimate=self.estimate, se=self.se, ci_low=self.ci_low, ci_high=self.ci_high,
                 ci_prob=self.level, method="Peto-OR", term="OR", stat=self.zval,
                 p_value=self.pval, k=self.k, QE=self.QE, QE_p=self.QE_p, I2=self.I2,
                 H2=self.H2)
        ])


def peto(
    *,
    ai: ArrayLike,
    ci: ArrayLike,
    bi: ArrayLike | None = None,
    di: ArrayLike | None = None,
    n1i: ArrayLike | None = None,
    n2i: ArrayLike | None = None,
    level: float = 0.95,
) -> PetoResult:
    """Peto one-step odds ratio: ``log OR = sum(O - E) / sum(V)``, ``se = 1/sqrt(sum V)``.

    Q is ``sum((O-E)²/V) - (sum(O-E))²/sum(V)`` with df k-1 (as metafor ``rma.peto``).
    """
    level = check_level(level)
    a, b, c, d = _tables(ai, bi, ci, di, n1i, n2i)
    n1, n2 = a + b, c + d
    n = n1 + n2
    m1 = a + c
    e = n1 * m1 / n
    v = n1 * n2 * m1 * (n - m1) / (n**2 * (n - 1))
    if np.sum(v) <= 0:
        raise MetaAnalysisError("Peto odds ratio undefined (no information in any table)")
    oe = a - e
    est = float(oe.sum() / v.sum())
    se = float(1 / np.sqrt(v.sum()))
    ok = v > 0
    q = float(np.sum(oe[ok] ** 2 / v[ok]) - oe.sum() ** 2 / v.sum())
    dfq = int(ok.sum()) - 1
    qp = float(stats.chi2.sf(q, dfq)) if dfq > 0 else float("nan")
    i2 = max(0.0, 100.0 * (q - dfq) / q) if q > 0 and dfq > 0 else 0.0
    h2 = q / dfq if dfq > 0 else 1.0
    crit = critical_value(level, None)
    z = est / se
    return PetoResult(level=level, k=int(a.size), estimate=est, se=se, zval=z,
                      pval=float(two_sided_p(z, None)), ci_low=est - crit * se,
                      ci_high=est + crit * se, QE=q, QE_df=dfq, QE_p=qp, I2=i2, H2=h2)


# ---------------------------------------------------------------------------------------------
# Two proportions
# ---------------------------------------------------------------------------------------------


def wilson_interval(x: float, n: float, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a single proportion ``x/n`` (no continuity correction)."""
    if n <= 0:
        raise MetaAnalysisError("group size must be positive")
    z = critical_value(check_level(level), None)
    p = x / n
    den = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / den
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def newcombe_interval(x1: float, n1: float, x2: float, n2: float, level: float = 0.95
                      ) -> tuple[float, float]:
    """Newcombe's hybrid score interval (his method 10) for ``p1 - p2``.

    Combines the two Wilson intervals; it behaves well for small counts and proportions near
    0 or 1, where the Wald interval undercovers.
    """
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1, level)
    l2, u2 = wilson_interval(x2, n2, level)
    d = p1 - p2
    lo = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    hi = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return float(lo), float(hi)


@dataclass(frozen=True)
class TwoProportionResult:
    """Comparison of two independent proportions ``x1/n1`` vs ``x2/n2`` (group 1 minus 2)."""

    x1: float
    n1: float
    x2: float
    n2: float
    level: float
    p1: float
    p2: float
    diff: float
    se_wald: float
    wald_ci: tuple[float, float]
    wald_z: float
    wald_p: float
    newcombe_ci: tuple[float, float]
    chi2: float
    chi2_p: float
    chi2_yates: float
    chi2_yates_p: float
    fisher_p: float
    log_rr: float
    se_log_rr: float
    log_or: float
    se_log_or: float
    min_expected: float

    def summary(self) -> pd.DataFrame:
        """Tidy frame: the difference with Wald and Newcombe CIs, then RR and OR (log scale).

        ``p_value`` holds the test that goes with each row (Wald z; Pearson chi-square for the
        Newcombe row). The chi-square (with/without Yates) and Fisher p-values are extras on
        every row, so a claim such as "not significant by chi-square" can be read directly.
        """
        crit = critical_value(self.level, None)
        common = dict(ci_prob=self.level, chi2=self.chi2, chi2_p=self.chi2_p,
                      chi2_yates=self.chi2_yates, chi2_yates_p=self.chi2_yates_p,
                      fisher_p=self.fisher_p, min_expected=self.min_expected)
        rows = [
            dict(estimate=self.diff, se=self.se_wald, ci_low=self.wald_ci[0],
                 ci_high=self.wald_ci[1], method="wald", term="risk_difference",
                 stat=self.wald_z, p_value=self.wald_p, **common),
            dict(estimate=self.diff, se=np.nan, ci_low=self.newcombe_ci[0],
                 ci_high=self.newcombe_ci[1], method="newcombe", term="risk_difference",
                 stat=self.chi2, p_value=self.chi2_p, **common),
            dict(estimate=self.log_rr, se=self.se_log_rr,
                 ci_low=self.log_rr - crit * self.se_log_rr,
                 ci_high=self.log_rr + crit * self.se_log_rr, method="wald",
                 term="log_risk_ratio", stat=self.log_rr / self.se_log_rr,
                 p_value=float(two_sided_p(self.log_rr / self.se_log_rr, None)), **common),
            dict(estimate=self.log_or, se=self.se_log_or,
                 ci_low=self.log_or - crit * self.se_log_or,
                 ci_high=self.log_or + crit * self.se_log_or, method="wald",
                 term="log_odds_ratio", stat=self.log_or / self.se_log_or,
                 p_value=float(two_sided_p(self.log_or / self.se_log_or, None)), **common),
        ]
        return summary_frame(rows)


def two_proportions(x1: float, n1: float, x2: float, n2: float, *, level: float = 0.95
                    ) -> TwoProportionResult:
    """Compare ``x1/n1`` with ``x2/n2``: difference, intervals and the classical tests.

    * Wald: ``d ± z sqrt(p1 q1/n1 + p2 q2/n2)`` and its z test;
    * Newcombe hybrid score interval (:func:`newcombe_interval`);
    * Pearson chi-square on the 2x2 table without and with Yates' correction (scipy
      ``chi2_contingency``; scipy applies Yates' correction capped so the statistic is never
      negative), both 1 df;
    * Fisher's exact test, two-sided (scipy ``fisher_exact``: sums tables no more probable than
      the observed one, like R's ``fisher.test``);
    * log risk ratio and log odds ratio with escalc variances (0.5 added if a cell is 0).
    """
    level = check_level(level)
    vals = [float(x1), float(n1), float(x2), float(n2)]
    if any(not np.isfinite(v) for v in vals):
        raise MetaAnalysisError("counts must be finite")
    if n1 <= 0 or n2 <= 0 or not (0 <= x1 <= n1) or not (0 <= x2 <= n2):
        raise MetaAnalysisError("need 0 <= x <= n and n > 0 in both groups")
    p1, p2 = x1 / n1, x2 / n2
    d = p1 - p2
    se = float(np.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2))
    crit = critical_value(level, None)
    z = d / se if se > 0 else float("nan")
    table = np.array([[x1, n1 - x1], [x2, n2 - x2]], dtype=float)
    margins_ok = np.all(table.sum(axis=0) > 0) and np.all(table.sum(axis=1) > 0)
    if margins_ok:
        chi2, chi2_p, _, expected = stats.chi2_contingency(table, correction=False)
        chi2y, chi2y_p, _, _ = stats.chi2_contingency(table, correction=True)
        min_exp = float(expected.min())
    else:
        chi2 = chi2_p = chi2y = chi2y_p = min_exp = float("nan")
    fisher_p = float(stats.fisher_exact(table.round().astype(int))[1])
    rr = escalc("RR", ai=[x1], n1i=[n1], ci=[x2], n2i=[n2])
    orr = escalc("OR", ai=[x1], n1i=[n1], ci=[x2], n2i=[n2])
    return TwoProportionResult(
        x1=float(x1), n1=float(n1), x2=float(x2), n2=float(n2), level=level, p1=p1, p2=p2,
        diff=d, se_wald=se, wald_ci=(d - crit * se, d + crit * se), wald_z=float(z),
        wald_p=float(two_sided_p(z, None)), newcombe_ci=newcombe_interval(x1, n1, x2, n2, level),
        chi2=float(chi2), chi2_p=float(chi2_p), chi2_yates=float(chi2y),
        chi2_yates_p=float(chi2y_p), fisher_p=fisher_p, log_rr=float(rr.yi[0]),
        se_log_rr=float(np.sqrt(rr.vi[0])), log_or=float(orr.yi[0]),
        se_log_or=float(np.sqrt(orr.vi[0])), min_expected=min_exp,
    )
