"""Univariate random-/mixed-effects meta-analysis, mirroring metafor's ``rma.uni()``.

What: :func:`rma` fits ``y_i = x_i' beta + u_i + e_i`` with ``e_i ~ N(0, v_i)`` (known sampling
variances) and ``u_i ~ N(0, tau²)``, estimating tau² by REML, ML, DerSimonian-Laird, Paule-Mandel,
empirical Bayes, Hedges, Sidik-Jonkman, Hunter-Schmidt or a generalised-Q estimator, or fixing it
at zero (equal-effects model). Inference on ``beta`` is Wald-z or Knapp-Hartung (t with k-p df and
the variance scaled by the weighted residual mean square, *not* truncated at 1, as in metafor).
Companions: :func:`confint_tau2` (Q-profile interval for tau², tau, I², H²), :func:`predict`
(confidence and prediction intervals), :func:`leave1out` and :func:`influence`.

Why: the frequentist pooled estimates are the benchmark against which the Bayesian models in this
package are read, and the reports we replicate were analysed with (or can be checked against)
metafor. Every convention that changes a printed number follows metafor; see
``docs/frequentist.md`` and the reference-case tests in ``tests/frequentist``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import optimize, special, stats

from ._common import (
    FloatArray,
    MetaAnalysisError,
    as_1d,
    as_2d,
    check_level,
    coef_names,
    critical_value,
    summary_frame,
    two_sided_p,
)

__all__ = [
    "METHODS",
    "HeterogeneityCI",
    "RMAResult",
    "confint_tau2",
    "influence",
    "leave1out",
    "predict",
    "q_generalised",
    "rma",
]

Method = Literal["REML", "ML", "DL", "PM", "PMM", "EB", "HE", "SJ", "HS", "HSk", "GENQ", "FE", "EE"]
Test = Literal["z", "knha"]

#: tau² estimators understood by :func:`rma` (metafor names; "FE" and "EE" fix tau² = 0).
METHODS: tuple[str, ...] = (
    "REML", "ML", "DL", "PM", "PMM", "EB", "HE", "SJ", "HS", "HSk", "GENQ", "FE", "EE",
)
_EQUAL_EFFECTS = ("FE", "EE")
_THRESHOLD = 1e-5  # metafor's convergence threshold for Fisher scoring (control$threshold)
_MAXITER = 100  # metafor's control$maxiter
_LL0_TOL = np.finfo(float).eps ** 0.25  # metafor's control$tol, used in the ll(0) check


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RMAResult:
    """A fitted univariate meta-analysis (metafor ``rma.uni`` object equivalent).

    Coefficient-level arrays (``beta``, ``se``, ``stat``, ``pval``, ``ci_low``, ``ci_high``) are
    ordered like ``coef_names``; ``vcov`` already includes the Knapp-Hartung factor ``s2w`` when
    ``test == "knha"``. ``I2`` and ``H2`` use metafor's "typical" within-study variance for
    random-effects fits and the Q-based definitions for equal-effects fits. ``loglik`` is the
    restricted log-likelihood (with metafor's ``+0.5 log|X'X|`` constant) when ``method ==
    "REML"`` and the ordinary log-likelihood otherwise, as ``logLik()`` reports in metafor.
    """

    method: str
    test: str
    level: float
    k: int
    p: int
    coef_names: tuple[str, ...]
    beta: FloatArray
    se: FloatArray
    vcov: FloatArray
    stat: FloatArray
    pval: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    df: int | None
    tau2: float
    se_tau2: float
    tau2_fixed: bool
    QE: float
    QE_df: int
    QE_p: float
    QM: float | None
    QM_df: int | None
    QM_p: float | None
    I2: float
    H2: float
    R2: float | None
    s2w: float
    vt: float
    loglik: float
    deviance: float
    AIC: float
    BIC: float
    AICc: float
    n_par: int
    loglik_ml: float
    loglik_reml: float
    iterations: int
    yi: FloatArray = field(repr=False)
    vi: FloatArray = field(repr=False)
    X: FloatArray = field(repr=False)
    intercept: bool = True
    tau2_init: float | None = None
    genq_weights: FloatArray | None = field(default=None, repr=False)
    notes: tuple[str, ...] = ()

    def __str__(self) -> str:
        """metafor-style printout (``print(res)``): heterogeneity, Q test, model results."""
        from bayes_bijstand.printing import format_rma

        return format_rma(self)

    @property
    def tau(self) -> float:
        """Between-study standard deviation, ``sqrt(tau2)``."""
        return float(np.sqrt(self.tau2))

    @property
    def weights(self) -> FloatArray:
        """Percentage weight of each study, ``100 w_i / sum(w)`` with ``w_i = 1/(v_i + tau²)``."""
        w = 1.0 / (self.vi + self.tau2)
        return 100.0 * w / w.sum()

    @property
    def is_intercept_only(self) -> bool:
        """True for a plain random-/equal-effects model without moderators."""
        return self.intercept and self.p == 1

    def summary(self) -> pd.DataFrame:
        """Tidy coefficient table plus one row for tau² (Q-profile CI, metafor ``confint``).

        Columns: ``estimate, se, ci_low, ci_high, ci_prob, method`` then ``term, kind, stat,
        p_value, df, k``. The tau² row has ``kind == "heterogeneity"`` and ``se = se_tau2``.
        """
        label = f"rma-{self.method}-{self.test}"
        rows: list[dict[str, Any]] = []
        for j, name in enumerate(self.coef_names):
            rows.append(
                dict(
                    estimate=float(self.beta[j]), se=float(self.se[j]),
                    ci_low=float(self.ci_low[j]), ci_high=float(self.ci_high[j]),
                    ci_prob=self.level, method=label, term=name, kind="coefficient",
                    stat=float(self.stat[j]), p_value=float(self.pval[j]),
                    df=float(self.df) if self.df is not None else np.nan, k=self.k,
                )
            )
        if self.method not in _EQUAL_EFFECTS and self.k > self.p:
            ci = confint_tau2(self)
            lo, hi = ci.tau2_ci
        else:
            lo = hi = np.nan
        rows.append(
            dict(
                estimate=self.tau2, se=self.se_tau2, ci_low=lo, ci_high=hi, ci_prob=self.level,
                method=label, term="tau2", kind="heterogeneity", stat=np.nan,
                p_value=self.QE_p, df=float(self.QE_df), k=self.k,
            )
        )
        return summary_frame(rows)

    def heterogeneity(self) -> pd.DataFrame:
        """One-row frame: tau², its SE, Q_E (df, p), I², H², R², s2w and fit statistics."""
        return pd.DataFrame(
            [
                dict(
                    method=self.method, k=self.k, p=self.p, tau2=self.tau2, tau=self.tau,
                    se_tau2=self.se_tau2, QE=self.QE, QE_df=self.QE_df, QE_p=self.QE_p,
                    QM=self.QM, QM_df=self.QM_df, QM_p=self.QM_p, I2=self.I2, H2=self.H2,
                    R2=self.R2, s2w=self.s2w, loglik=self.loglik, deviance=self.deviance,
                    AIC=self.AIC, BIC=self.BIC, AICc=self.AICc, n_par=self.n_par,
                )
            ]
        )

    def predict(self, newmods: ArrayLike | None = None, *, level: float | None = None
                ) -> pd.DataFrame:
        """Shortcut for :func:`predict` (metafor ``predict.rma``)."""
        return predict(self, newmods, level=level)

    def confint_tau2(self, level: float | None = None) -> HeterogeneityCI:
        """Shortcut for :func:`confint_tau2` (Q-profile interval)."""
        return confint_tau2(self, level=level)

    def leave1out(self) -> pd.DataFrame:
        """Shortcut for :func:`leave1out`."""
        return leave1out(self)

    def influence(self) -> pd.DataFrame:
        """Shortcut for :func:`influence`."""
        return influence(self)


@dataclass(frozen=True)
class HeterogeneityCI:
    """Q-profile confidence intervals for tau², tau, I² and H² (metafor ``confint.rma.uni``).

    The tau² bounds solve ``Q_gen(tau²) = chi²_{k-p}`` quantiles, so they do not depend on the
    tau² estimator; I²/H² bounds are the tau² bounds mapped through the same formulas as the
    point estimates (using the "typical" within-study variance ``vt``).
    """

    level: float
    tau2: float
    tau2_ci: tuple[float, float]
    tau: float
    tau_ci: tuple[float, float]
    I2: float
    I2_ci: tuple[float, float]
    H2: float
    H2_ci: tuple[float, float]
    method: str = "Q-profile"

    def summary(self) -> pd.DataFrame:
        """Tidy frame with one row per heterogeneity parameter (``se`` is NaN)."""
        rows = []
        for name in ("tau2", "tau", "I2", "H2"):
            lo, hi = getattr(self, f"{name}_ci")
            rows.append(
                dict(estimate=getattr(self, name), se=np.nan, ci_low=lo, ci_high=hi,
                     ci_prob=self.level, method=self.method, term=name)
            )
        return summary_frame(rows)


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------


def q_generalised(tau2: float, yi: ArrayLike, vi: ArrayLike, X: ArrayLike | None = None
                  ) -> float:
    """Generalised Q statistic ``sum w_i (y_i - x_i' b_w)²`` with ``w_i = 1/(v_i + tau²)``.

    Why: it is decreasing in tau² and ~ chi²(k-p) at the true tau², which gives the
    Paule-Mandel estimator (``Q_gen = k-p``) and the Q-profile confidence interval.
    """
    y = np.asarray(yi, dtype=float)
    v = np.asarray(vi, dtype=float)
    Xm = np.ones((y.size, 1)) if X is None else np.asarray(X, dtype=float)
    w = 1.0 / (v + tau2)
    WX = Xm * w[:, None]
    b = np.linalg.solve(Xm.T @ WX, WX.T @ y)
    r = y - Xm @ b
    return float(np.sum(w * r * r))


def _design(k: int, mods: ArrayLike | None, intercept: bool,
            mod_names: Sequence[str] | None) -> tuple[FloatArray, tuple[str, ...]]:
    """Design matrix ``[1, mods]`` and its column names (metafor: ``intrcpt``, then mods)."""
    names: list[str] = []
    cols: list[FloatArray] = []
    if intercept:
        cols.append(np.ones((k, 1)))
        names.append("intrcpt")
    if mods is not None:
        if isinstance(mods, pd.DataFrame):
            default = [str(c) for c in mods.columns]
        elif isinstance(mods, pd.Series):
            default = [str(mods.name) if mods.name is not None else "mod1"]
        else:
            default = None
        M = as_2d("mods", mods, k)
        if default is None:
            default = [f"mod{j + 1}" for j in range(M.shape[1])]
        names.extend(coef_names(mod_names, M.shape[1], default))
        cols.append(M)
    if not cols:
        raise MetaAnalysisError("model has no coefficients: give 'mods' or keep the intercept")
    if len(cols) == 1 and mods is None:  # intercept only: full rank, no SVD needed
        return cols[0], tuple(names)
    X = np.hstack(cols)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise MetaAnalysisError("moderator matrix is not of full column rank")
    return X, tuple(names)


def _loglik(y: FloatArray, vi: FloatArray, X: FloatArray, tau2: float) -> tuple[float, float]:
    """(ML, REML) log-likelihoods at tau², REML with metafor's ``+0.5 log|X'X|`` constant."""
    k, p = X.shape
    w = 1.0 / (vi + tau2)
    WX = X * w[:, None]
    xtwx = X.T @ WX
    b = np.linalg.solve(xtwx, WX.T @ y)
    rss = float(np.sum(w * (y - X @ b) ** 2))
    sumlog = float(np.sum(np.log(vi + tau2)))
    ll_ml = -0.5 * k * np.log(2 * np.pi) - 0.5 * sumlog - 0.5 * rss
    ll_reml = (-0.5 * (k - p) * np.log(2 * np.pi) + 0.5 * np.linalg.slogdet(X.T @ X)[1]
               - 0.5 * sumlog - 0.5 * np.linalg.slogdet(xtwx)[1] - 0.5 * rss)
    return float(ll_ml), float(ll_reml)


def _p_stats(X: FloatArray, w: FloatArray, y: FloatArray) -> tuple[FloatArray, float, float]:
    """``(P y, tr P, tr PP)`` for ``P = W - W X (X'WX)^-1 X'W`` in O(k p²), without forming P.

    Why: the Fisher-scoring updates need only these three quantities, and forming the k x k
    matrix P makes large meta-analyses (k in the thousands) needlessly slow.
    """
    WX = X * w[:, None]
    A = np.linalg.inv(X.T @ WX)
    Py = w * y - WX @ (A @ (WX.T @ y))
    B = A @ (X.T @ (X * (w**2)[:, None]))  # A X'W²X
    C = A @ (X.T @ (X * (w**3)[:, None]))  # A X'W³X
    trP = float(np.sum(w) - np.trace(B))
    trPP = float(np.sum(w**2) - 2.0 * np.trace(C) + np.trace(B @ B))
    return Py, trP, trPP


@dataclass(frozen=True)
class _PTraces:
    """Traces of ``P = W - W X (X'WX)^-1 X'W`` (and of ``P V``) needed by the moment estimators.

    ``rss = y'Py``, ``trP = tr P``, ``trPP = tr PP = sum(P*P)``, ``trPV = tr PV``,
    ``trPVPV = tr PVPV = sum(PV * PV')`` and ``trPPV = tr PPV = sum(PV * P)`` for
    ``V = diag(v)``, all in O(k p²) without forming a k x k matrix.
    """

    rss: float
    trP: float
    trPP: float
    trPV: float
    trPVPV: float
    trPPV: float


def _p_traces(X: FloatArray, w: FloatArray, y: FloatArray, v: FloatArray | None = None
              ) -> _PTraces:
    """:class:`_PTraces` for weights ``w``, data ``y`` and variances ``v`` in O(k p²).

    Without ``v`` the three traces involving ``V`` are NaN (the DL/HS estimators need none).

    Why: metafor forms the k x k matrix ``P``; at k = 10,000 that is 800 MB and seconds of
    work, whereas every quantity the estimators need is a trace that reduces to p x p algebra
    (``H = W X A X'W`` with ``A = (X'WX)^-1`` has rank p).
    """

    def xdx(d: FloatArray) -> FloatArray:  # A X' diag(d) X, p x p
        return A @ (X.T @ (X * d[:, None]))

    WX = X * w[:, None]
    A = np.linalg.inv(X.T @ WX)
    Py = w * y - WX @ (A @ (WX.T @ y))
    B = xdx(w**2)  # A X'W²X
    trP = float(np.sum(w) - np.trace(B))
    trPP = float(np.sum(w**2) - 2.0 * np.trace(xdx(w**3)) + np.trace(B @ B))
    if v is None:
        nan = float("nan")
        return _PTraces(rss=float(y @ Py), trP=trP, trPP=trPP, trPV=nan, trPVPV=nan, trPPV=nan)
    D = xdx(w**2 * v)  # A X'WVWX
    trPV = float(np.sum(w * v) - np.trace(D))
    trPVPV = float(np.sum((w * v) ** 2) - 2.0 * np.trace(xdx(w**3 * v**2)) + np.trace(D @ D))
    trPPV = float(np.sum(w**2 * v) - 2.0 * np.trace(xdx(w**3 * v)) + np.trace(B @ D))
    return _PTraces(rss=float(y @ Py), trP=trP, trPP=trPP, trPV=trPV, trPVPV=trPVPV,
                    trPPV=trPPV)


def _pm_root(y: FloatArray, vi: FloatArray, X: FloatArray, target: float) -> float:
    """Solve ``Q_gen(tau²) = target`` for tau² >= 0 (0 if ``Q_gen(0) < target``)."""
    f = lambda t: q_generalised(t, y, vi, X) - target  # noqa: E731
    if f(0.0) < 0:
        return 0.0
    mad = float(stats.median_abs_deviation(y, scale="normal"))
    upper = max(100.0, 10.0 * mad**2)
    for _ in range(60):
        if f(upper) < 0:
            break
        upper *= 10.0
    else:  # pragma: no cover - Q_gen -> 0 as tau² -> inf, so this cannot happen for finite data
        raise MetaAnalysisError("could not bracket the Paule-Mandel root")
    return float(optimize.brentq(f, 0.0, upper, xtol=1e-12, rtol=1e-12, maxiter=500))


def _estimate_tau2(y: FloatArray, vi: FloatArray, X: FloatArray, method: str,
                   tau2_init: float | None, genq_weights: FloatArray | None
                   ) -> tuple[float, float, int]:
    """Return ``(tau2, se_tau2, iterations)`` for one of the estimators in :data:`METHODS`.

    Follows metafor's ``rma.uni`` code path by path (mean-centred ``y`` in the moment
    equations, Hedges start for Fisher scoring, step-halving to stay >= 0, the ``ll(0)`` check,
    truncation at 0, and the estimator-specific SE formulas), so that results agree with
    metafor to its own convergence threshold (1e-5 in tau²).
    """
    k, p = X.shape
    ymc = y - y.mean()
    iterations = 0

    if method in ("HS", "HSk", "DL"):
        wi = 1.0 / vi
        pt = _p_traces(X, wi, ymc)
        rss, trP, sPP = pt.rss, pt.trP, pt.trPP
        if method == "DL":
            tau2 = (rss - (k - p)) / trP
            t0 = max(tau2, 0.0)
            se = np.sqrt((2 * (k - p) + 4 * t0 * trP + 2 * t0**2 * sPP) / trP**2)
        else:
            if method == "HS":
                tau2 = (rss - k) / np.sum(wi)
                t0 = max(tau2, 0.0)
                se = np.sqrt((2 * (k - p) + 4 * t0 * trP + 2 * t0**2 * sPP) / np.sum(wi) ** 2)
            else:
                tau2 = (k / (k - p) * rss - k) / np.sum(wi)
                t0 = max(tau2, 0.0)
                se = k / (k - p) * np.sqrt(
                    (2 * (k - p) + 4 * t0 * trP + 2 * t0**2 * sPP) / np.sum(wi) ** 2)
        return max(0.0, float(tau2)), float(se), iterations

    if method == "GENQ":
        if genq_weights is None:
            raise MetaAnalysisError("method='GENQ' needs 'genq_weights'")
        pt = _p_traces(X, genq_weights, ymc, vi)
        tau2 = (pt.rss - pt.trPV) / pt.trP
        t0 = max(tau2, 0.0)
        se = np.sqrt((2 * pt.trPVPV + 4 * t0 * pt.trPPV + 2 * t0**2 * pt.trPP) / pt.trP**2)
        return max(0.0, float(tau2)), float(se), iterations

    if method == "SJ":
        tau2_0 = float(np.var(ymc)) if tau2_init is None else float(tau2_init)
        wi = 1.0 / (vi + tau2_0)
        pt = _p_traces(X, wi, ymc, vi)
        tau2 = tau2_0 * pt.rss / (k - p)
        t0 = max(tau2, 0.0)
        se = np.sqrt(tau2_0**2 / (k - p) ** 2 * (2 * pt.trPVPV + 4 * t0 * pt.trPPV
                                                + 2 * t0**2 * pt.trPP))
        return max(0.0, float(tau2)), float(se), iterations

    if method in ("PM", "PMM"):
        target = float(k - p) if method == "PM" else float(stats.chi2.ppf(0.5, k - p))
        tau2 = _pm_root(ymc, vi, X, target)
        wi = 1.0 / (vi + tau2)
        se = np.sqrt(2 * k**2 / (k - p) / np.sum(wi) ** 2)
        return tau2, float(se), iterations

    # Hedges (HE), also the starting value for ML / REML / EB (O(k p²): no k x k matrices)
    xtx_inv = np.linalg.inv(X.T @ X)
    res_ols = ymc - X @ (xtx_inv @ (X.T @ ymc))
    rss = float(res_ols @ res_ols)
    trPV = float(np.sum(vi) - np.trace(xtx_inv @ (X.T @ (X * vi[:, None]))))
    tau2_he = (rss - trPV) / (k - p)
    if method == "HE":
        pt = _p_traces(X, np.ones(k), ymc, vi)  # P = I - X (X'X)^-1 X'
        t0 = max(tau2_he, 0.0)
        se = np.sqrt((2 * pt.trPVPV + 4 * t0 * trPV + 2 * t0**2 * (k - p)) / (k - p) ** 2)
        return max(0.0, float(tau2_he)), float(se), iterations

    if method not in ("ML", "REML", "EB"):  # pragma: no cover - guarded in rma()
        raise MetaAnalysisError(f"unknown method {method!r}")

    tau2 = max(0.0, tau2_he) if tau2_init is None else float(tau2_init)
    change = _THRESHOLD + 1.0
    while change > _THRESHOLD:
        iterations += 1
        old = tau2
        wi = 1.0 / (vi + tau2)
        Py, trP, trPP = _p_stats(X, wi, ymc)
        if method == "ML":
            adj = (float(Py @ Py) - float(np.sum(wi))) / float(np.sum(wi**2))
        elif method == "REML":
            adj = (float(Py @ Py) - trP) / trPP
        else:  # EB
            adj = (float(ymc @ Py) * k / (k - p) - k) / float(np.sum(wi))
        while tau2 + adj < 0.0:  # step-halving keeps tau² inside the parameter space
            adj /= 2.0
        tau2 = tau2 + adj
        change = abs(old - tau2)
        if iterations > _MAXITER:
            raise MetaAnalysisError(
                f"Fisher scoring for {method} did not converge in {_MAXITER} iterations"
            )

    if method in ("ML", "REML"):
        # metafor's ll0check: prefer tau² = 0 if the likelihood there is clearly higher
        ll0 = _loglik(ymc, vi, X, 0.0)[0 if method == "ML" else 1]
        ll1 = _loglik(ymc, vi, X, tau2)[0 if method == "ML" else 1]
        if ll0 - ll1 > _LL0_TOL and tau2 > _THRESHOLD:
            tau2 = 0.0
    tau2 = max(0.0, tau2)
    wi = 1.0 / (vi + tau2)
    if method == "ML":
        se = np.sqrt(2.0 / np.sum(wi**2))
    elif method == "REML":
        se = np.sqrt(2.0 / _p_stats(X, wi, ymc)[2])
    else:
        se = np.sqrt(2 * k**2 / (k - p) / np.sum(wi) ** 2)
    return float(tau2), float(se), iterations


# ---------------------------------------------------------------------------------------------
# Main entry point
# ---------------------------------------------------------------------------------------------


def rma(
    yi: ArrayLike,
    vi: ArrayLike,
    *,
    method: Method | str = "REML",
    mods: ArrayLike | None = None,
    test: Test | str = "z",
    level: float = 0.95,
    intercept: bool = True,
    mod_names: Sequence[str] | None = None,
    tau2: float | None = None,
    tau2_init: float | None = None,
    genq_weights: ArrayLike | None = None,
    r2: bool = True,
) -> RMAResult:
    """Fit a univariate random-/mixed-effects meta-analysis (metafor ``rma()``).

    Parameters
    ----------
    yi, vi
        Observed effect sizes and their (known, positive) sampling variances, length k.
    method
        tau² estimator: ``"REML"`` (default), ``"ML"``, ``"DL"``, ``"PM"`` (Paule-Mandel),
        ``"PMM"`` (median-unbiased PM: ``Q_gen = chi²_{k-p; 0.5}``),
        ``"EB"`` (empirical Bayes; same fixed point as PM), ``"HE"`` (Hedges/Cochran ANOVA),
        ``"SJ"`` (Sidik-Jonkman, one step from ``tau2_init`` or the crude ``var(y)``),
        ``"HS"``/``"HSk"`` (Hunter-Schmidt), ``"GENQ"`` (generalised Q with ``genq_weights``),
        ``"FE"``/``"EE"`` (equal effects, tau² = 0).
    mods
        k x m moderator matrix (or vector); an intercept column is added unless
        ``intercept=False``. A pandas DataFrame/Series supplies the coefficient names.
    test
        ``"z"`` (Wald, normal quantiles) or ``"knha"`` (Knapp-Hartung: t(k-p) and
        ``vcov *= s2w = Q_gen(tau²)/(k-p)``, without truncating ``s2w`` at 1).
    level
        Confidence level as a probability (metafor ``level=95`` is ``0.95`` here).
    tau2
        Fix tau² at this value instead of estimating it (not counted as a parameter).
    tau2_init
        Starting value for ML/REML/EB, or the initial value for the SJ estimator.
    r2
        Compute the pseudo-R² of a mixed-effects model (refits the intercept-only model).

    Edge cases: ``k == 1`` gives the single estimate with tau² = 0 (as metafor does) and a note;
    ``k <= p`` with a tau² estimator raises :class:`MetaAnalysisError` (use ``method="FE"`` or
    fix ``tau2``).
    """
    y = as_1d("yi", yi)
    v = as_1d("vi", vi)
    k = y.size
    if v.size != k:
        raise MetaAnalysisError(f"'yi' has {k} values but 'vi' has {v.size}")
    if k == 0:
        raise MetaAnalysisError("no studies to pool (k = 0)")
    if np.any(v <= 0):
        raise MetaAnalysisError("all sampling variances 'vi' must be positive")
    method = str(method)
    method_upper = {m.upper(): m for m in METHODS}
    if method.upper() not in method_upper:
        raise MetaAnalysisError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    method = method_upper[method.upper()]
    test = str(test).lower()
    if test not in ("z", "knha"):
        raise MetaAnalysisError(f"unknown test {test!r}; use 'z' or 'knha'")
    level = check_level(level)
    X, names = _design(k, mods, intercept, mod_names)
    p = X.shape[1]
    gw = None if genq_weights is None else as_1d("genq_weights", genq_weights)
    if gw is not None and gw.size != k:
        raise MetaAnalysisError("'genq_weights' must have one value per study")
    if k < p:
        raise MetaAnalysisError(f"more coefficients (p={p}) than studies (k={k})")

    notes: list[str] = []
    iterations = 0
    tau2_fixed = tau2 is not None and method not in _EQUAL_EFFECTS
    if method in _EQUAL_EFFECTS:
        tau2_hat, se_tau2 = 0.0, float("nan")
    elif tau2_fixed:
        assert tau2 is not None
        if tau2 < 0:
            raise MetaAnalysisError("a fixed 'tau2' must be >= 0")
        tau2_hat, se_tau2 = float(tau2), float("nan")
    elif k == 1:
        tau2_hat, se_tau2 = 0.0, float("nan")
        notes.append("k = 1: tau² cannot be estimated and is set to 0 (as metafor does)")
    elif k == p:
        raise MetaAnalysisError(
            f"cannot estimate tau² with k = p = {k} (no residual degrees of freedom); "
            "use method='FE' or fix 'tau2'"
        )
    else:
        tau2_hat, se_tau2, iterations = _estimate_tau2(y, v, X, method, tau2_init, gw)

    # fixed effects given tau²
    w = 1.0 / (v + tau2_hat)
    WX = X * w[:, None]
    vb = np.linalg.inv(X.T @ WX)
    beta = vb @ (WX.T @ y)
    rss_f = float(np.sum(w * (y - X @ beta) ** 2))
    s2w = 1.0
    df: int | None = None
    if test == "knha":
        df = k - p
        s2w = 0.0 if rss_f <= np.finfo(float).eps else rss_f / (k - p) if k > p else float("nan")
        if method in _EQUAL_EFFECTS:
            notes.append("Knapp-Hartung adjustment is not meant for equal-effects models")
        if k == p:
            notes.append("k = p: no degrees of freedom for the Knapp-Hartung t test")
    vb = s2w * vb
    se = np.sqrt(np.diag(vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = beta / se
    pval = two_sided_p(stat, df)
    crit = critical_value(level, df)
    ci_low, ci_high = beta - crit * se, beta + crit * se

    # omnibus moderator test (all coefficients except the intercept)
    QM = QM_df = QM_p = None
    if p > 1 or not intercept:
        btt = np.arange(1 if intercept else 0, p)
        sub = vb[np.ix_(btt, btt)]
        qm = float(beta[btt] @ np.linalg.solve(sub, beta[btt]))
        QM_df = int(btt.size)
        if df is not None:
            QM = qm / QM_df
            QM_p = float(stats.f.sf(QM, QM_df, df)) if df > 0 else float("nan")
        else:
            QM = qm
            QM_p = float(stats.chi2.sf(QM, QM_df))

    # residual heterogeneity, I², H² (always with equal-effects weights, as in metafor)
    if k > p:
        ymc = y - y.mean()
        Py_fe, trP_fe, _ = _p_stats(X, 1.0 / v, ymc)
        QE = max(0.0, float(ymc @ Py_fe))
        QE_p = float(special.chdtrc(k - p, QE))  # = stats.chi2.sf, without its overhead
        vt = (k - p) / trP_fe
        if method in _EQUAL_EFFECTS:
            I2 = max(0.0, 100.0 * (QE - (k - p)) / QE) if QE > 0 else 0.0
            H2 = QE / (k - p)
        else:
            I2 = 100.0 * tau2_hat / (vt + tau2_hat)
            H2 = tau2_hat / vt + 1.0
    else:
        QE, QE_p, I2, H2, vt = 0.0, 1.0, 0.0, 1.0, 0.0

    # fit statistics
    n_par = p + (0 if method in _EQUAL_EFFECTS or tau2_fixed else 1)
    ll_ml, ll_reml = _loglik(y, v, X, tau2_hat)
    if method == "REML":
        ll, n_eff = ll_reml, k - p
        dev = -2.0 * ll_reml
    else:
        ll, n_eff = ll_ml, k
        sat = float(-0.5 * k * np.log(2 * np.pi) - 0.5 * np.sum(np.log(v)))  # sum log N(y|y,v)
        dev = -2.0 * (ll_ml - sat) if k > p else 0.0
    aic = -2 * ll + 2 * n_par
    bic = -2 * ll + n_par * np.log(n_eff) if n_eff > 0 else float("nan")
    m_ = max(n_eff, n_par + 2)
    aicc = -2 * ll + 2 * n_par * m_ / (m_ - n_par - 1)

    # pseudo R² relative to the intercept-only model with the same estimator
    R2 = None
    if r2 and intercept and p > 1 and method not in _EQUAL_EFFECTS and not tau2_fixed:
        base = rma(y, v, method=method, test=test, level=level, tau2_init=tau2_init,
                   genq_weights=gw, r2=False)
        R2 = 0.0 if base.tau2 <= 0 else max(0.0, 100.0 * (base.tau2 - tau2_hat) / base.tau2)

    return RMAResult(
        method=method, test=test, level=level, k=k, p=p, coef_names=names, beta=beta, se=se,
        vcov=vb, stat=np.asarray(stat, dtype=float), pval=pval, ci_low=ci_low,
        ci_high=ci_high, df=df, tau2=tau2_hat, se_tau2=se_tau2, tau2_fixed=tau2_fixed, QE=QE,
        QE_df=k - p, QE_p=QE_p, QM=QM, QM_df=QM_df, QM_p=QM_p, I2=I2, H2=H2, R2=R2, s2w=s2w,
        vt=vt, loglik=ll, deviance=dev, AIC=aic, BIC=bic, AICc=aicc, n_par=n_par,
        loglik_ml=ll_ml, loglik_reml=ll_reml, iterations=iterations, yi=y, vi=v, X=X,
        intercept=intercept, tau2_init=tau2_init, genq_weights=gw, notes=tuple(notes),
    )


def _refit(res: RMAResult, keep: FloatArray | np.ndarray) -> RMAResult:
    """Refit ``res``'s model on the studies selected by the boolean mask ``keep``.

    Uses the full design matrix without adding an intercept (as metafor's ``leave1out`` and
    ``influence`` do), so coefficients keep their meaning.
    """
    gw = None if res.genq_weights is None else res.genq_weights[keep]
    return rma(
        res.yi[keep], res.vi[keep], method=res.method, mods=res.X[keep], intercept=False,
        mod_names=res.coef_names, test=res.test, level=res.level,
        tau2=res.tau2 if res.tau2_fixed else None, tau2_init=res.tau2_init, genq_weights=gw,
        r2=False,
    )


# ---------------------------------------------------------------------------------------------
# Companions: confint, predict, leave1out, influence
# ---------------------------------------------------------------------------------------------


def confint_tau2(res: RMAResult, level: float | None = None) -> HeterogeneityCI:
    """Q-profile confidence interval for tau² (and tau, I², H²), as metafor's ``confint()``.

    The lower bound solves ``Q_gen(tau²) = chi²_{k-p; 1-alpha/2}`` and the upper bound
    ``Q_gen(tau²) = chi²_{k-p; alpha/2}``; a bound is 0 when ``Q_gen(0)`` is already below the
    quantile (the interval is then truncated, possibly to ``[0, 0]``). Roots are found to
    ~1e-10 (metafor's ``uniroot`` tolerance is ~1e-4, so its printed I²/H² bounds can differ in
    the 3rd decimal).
    """
    lev = res.level if level is None else check_level(level)
    if res.k <= res.p:
        raise MetaAnalysisError("Q-profile CI needs k > p")
    dfr = res.k - res.p
    alpha = 1.0 - lev
    q_hi = float(stats.chi2.ppf(1 - alpha / 2, dfr))
    q_lo = float(stats.chi2.ppf(alpha / 2, dfr))
    lb = _pm_root(res.yi, res.vi, res.X, q_hi)
    ub = _pm_root(res.yi, res.vi, res.X, q_lo)
    vt = res.vt

    def i2(t: float) -> float:
        return 100.0 * t / (vt + t)

    def h2(t: float) -> float:
        return t / vt + 1.0

    return HeterogeneityCI(
        level=lev, tau2=res.tau2, tau2_ci=(lb, ub), tau=res.tau,
        tau_ci=(float(np.sqrt(lb)), float(np.sqrt(ub))), I2=i2(res.tau2), I2_ci=(i2(lb), i2(ub)),
        H2=h2(res.tau2), H2_ci=(h2(lb), h2(ub)),
    )


def predict(res: RMAResult, newmods: ArrayLike | None = None, *, level: float | None = None
            ) -> pd.DataFrame:
    """Predicted (average) effects with confidence and prediction intervals (``predict.rma``).

    ``newmods``: rows of moderator values (without the intercept column, which is added when
    the model has one); ``None`` gives the pooled estimate for an intercept-only model and the
    fitted values of the k studies otherwise. The prediction interval is
    ``pred ± crit · sqrt(tau² + se²)`` with ``crit`` from N(0,1), or from t(k-p) when
    ``test == "knha"``. Columns: ``pred, se, ci_low, ci_high, pi_low, pi_high, pi_se, ci_prob``.
    """
    lev = res.level if level is None else check_level(level)
    if newmods is None:
        Xn = res.X[:1] if res.is_intercept_only else res.X
    else:
        arr = np.asarray(newmods, dtype=float)
        n_mod = res.p - (1 if res.intercept else 0)
        if arr.ndim <= 1:
            arr = arr.reshape(1, -1) if n_mod > 1 or arr.ndim == 0 else arr.reshape(-1, 1)
        if arr.shape[1] != n_mod:
            raise MetaAnalysisError(f"'newmods' must have {n_mod} columns, got {arr.shape[1]}")
        Xn = np.hstack([np.ones((arr.shape[0], 1)), arr]) if res.intercept else arr
    pred = Xn @ res.beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", Xn, res.vcov, Xn))
    crit = critical_value(lev, res.df)
    pi_se = np.sqrt(res.tau2 + se**2)
    return pd.DataFrame(
        dict(pred=pred, se=se, ci_low=pred - crit * se, ci_high=pred + crit * se,
             pi_low=pred - crit * pi_se, pi_high=pred + crit * pi_se, pi_se=pi_se, ci_prob=lev)
    )


def leave1out(res: RMAResult) -> pd.DataFrame:
    """Refit the model k times, each time omitting one study (metafor ``leave1out``).

    Returns a tidy frame with one row per (omitted study, coefficient): ``omitted`` (0-based
    index), ``term``, ``estimate, se, ci_low, ci_high, ci_prob, method``, ``stat, p_value``
    and the heterogeneity of the reduced fit ``Q, Q_p, tau2, I2, H2``.
    """
    if res.k < 2:
        raise MetaAnalysisError("leave-one-out needs at least 2 studies")
    rows: list[dict[str, Any]] = []
    for i in range(res.k):
        keep = np.ones(res.k, dtype=bool)
        keep[i] = False
        fit = _refit(res, keep)
        for j, name in enumerate(fit.coef_names):
            rows.append(
                dict(estimate=float(fit.beta[j]), se=float(fit.se[j]),
                     ci_low=float(fit.ci_low[j]), ci_high=float(fit.ci_high[j]),
                     ci_prob=fit.level, method=f"leave1out-{fit.method}-{fit.test}",
                     omitted=i, term=name, stat=float(fit.stat[j]),
                     p_value=float(fit.pval[j]), Q=fit.QE, Q_p=fit.QE_p, tau2=fit.tau2,
                     I2=fit.I2, H2=fit.H2)
            )
    return summary_frame(rows)


def influence(res: RMAResult) -> pd.DataFrame:
    """Case-deletion influence diagnostics (metafor ``influence.rma.uni``).

    One row per study with ``rstudent`` (externally studentised residual), ``dffits``,
    ``cook_d`` (Cook's distance over all coefficients, using the full-model covariance),
    ``cov_r`` (det vcov deleted / det vcov full), ``tau2_del``, ``QE_del``, ``hat``, ``weight``
    (percent), ``dfbetas_<term>`` and ``influential`` (metafor's flagging rule). Formulas are
    those of metafor, including the Knapp-Hartung scaling factor of the deleted fits.
    """
    if res.k < 2:
        raise MetaAnalysisError("influence diagnostics need at least 2 studies")
    k, p = res.k, res.p
    X, y, v = res.X, res.yi, res.vi
    pred_full = X @ res.beta
    svb = np.linalg.inv(res.vcov)
    w = 1.0 / (v + res.tau2)
    hat = w * np.einsum("ij,ij->i", X @ np.linalg.inv(X.T @ (X * w[:, None])), X)
    out = {name: np.full(k, np.nan) for name in
           ("rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "QE_del")}
    dfbs = np.full((k, p), np.nan)
    delpred = np.full(k, np.nan)
    vdelpred = np.full(k, np.nan)
    s2w_del = np.full(k, np.nan)
    det_full = np.linalg.det(res.vcov)
    for i in range(k):
        keep = np.ones(k, dtype=bool)
        keep[i] = False
        try:
            fit = _refit(res, keep)
        except (MetaAnalysisError, np.linalg.LinAlgError):
            continue
        out["tau2_del"][i] = fit.tau2
        out["QE_del"][i] = fit.QE
        xi = X[i]
        delpred[i] = xi @ fit.beta
        vdelpred[i] = xi @ fit.vcov @ xi
        s2w_del[i] = fit.s2w
        out["dffits"][i] = (pred_full[i] - delpred[i]) / np.sqrt(
            fit.s2w * hat[i] * (fit.tau2 + v[i]))
        vb_del = np.linalg.inv(X.T @ (X / (v + fit.tau2)[:, None]))
        dfb = res.beta - fit.beta
        dfbs[i] = dfb / np.sqrt(fit.s2w * np.diag(vb_del))
        out["cook_d"][i] = float(dfb @ svb @ dfb)
        out["cov_r"][i] = np.linalg.det(fit.vcov) / det_full
    resid = y - delpred
    resid[np.abs(resid) < 100 * np.finfo(float).eps] = 0.0
    seresid = np.sqrt(v * s2w_del + vdelpred + out["tau2_del"] * s2w_del)
    out["rstudent"] = resid / seresid
    frame = pd.DataFrame(out)
    frame.insert(0, "study", np.arange(k))
    frame["hat"] = hat
    frame["weight"] = 100.0 * w / w.sum()
    for j, name in enumerate(res.coef_names):
        frame[f"dfbetas_{name}"] = dfbs[:, j]
    with np.errstate(invalid="ignore"):
        flag = (
            (np.abs(frame["dffits"]) > 3 * np.sqrt(p / (k - p)) if k > p else False)
            | (stats.chi2.cdf(frame["cook_d"], p) > 0.5)
            | (frame["hat"] > 3 * p / k)
            | (np.abs(dfbs) > 1).any(axis=1)
        )
    frame["influential"] = np.asarray(flag, dtype=bool)
    return frame


def with_level(res: RMAResult, level: float) -> RMAResult:
    """Return ``res`` with confidence intervals recomputed at another ``level``."""
    level = check_level(level)
    crit = critical_value(level, res.df)
    return replace(res, level=level, ci_low=res.beta - crit * res.se,
                   ci_high=res.beta + crit * res.se)
