"""Multivariate / multilevel meta-analysis with a known sampling covariance, like ``rma.mv``.

What: :func:`rma_mv` fits ``y = X beta + sum_c Z_c u_c + e`` with ``e ~ N(0, V)`` for a *known*
k x k sampling covariance ``V`` (shared control arms, multiple outcomes per study) and random
effects given as

* random intercepts ``~ 1 | g`` (:class:`RandomIntercept`); nested groupings
  ``~ 1 | district/study`` expand to one intercept per nesting level (:func:`nested`), giving
  the three-level model with variance components ``sigma2_1, sigma2_2, ...``;
* ``~ inner | outer`` terms (:class:`RandomInnerOuter`) with struct ``"CS"`` (one tau², one
  correlation rho), ``"UN"`` (unstructured L x L covariance over the inner levels) or ``"DIAG"``
  (separate tau² per inner level, independent).

Variance components are estimated by REML (default) or ML, maximising metafor's
log-likelihood (REML including the ``+0.5 log|X'X|`` constant, so ``loglik`` matches
``logLik(rma.mv)``) with scipy L-BFGS-B over log variances, a scaled-logistic transform of the
CS correlation and a log-Cholesky parametrisation of UN matrices, using analytic gradients.
With ``random=None`` the fit is the multivariate equal-effects GLS model.

Why: several Dutch experiments report more than one contrast against the same control group or
more than one outcome per site; pooling them as independent would double-count the control arm.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import linalg, optimize, stats

from ._common import (
    FloatArray,
    MetaAnalysisError,
    as_1d,
    check_level,
    coef_names,
    critical_value,
    summary_frame,
    two_sided_p,
)

__all__ = [
    "RMAMVResult",
    "RandomInnerOuter",
    "RandomIntercept",
    "nested",
    "parse_random",
    "rma_mv",
]

Struct = Literal["CS", "UN", "DIAG"]
_LOG_MIN = -30.0  # lower bound on log variances (variance ~1e-13: effectively 0)
_LOG_MAX = 15.0


@dataclass(frozen=True)
class RandomIntercept:
    """Random intercept ``~ 1 | groups``: effects sharing a ``groups`` label share ``u``."""

    groups: Sequence[Any]
    name: str = "group"


@dataclass(frozen=True)
class RandomInnerOuter:
    """Random term ``~ inner | outer`` with a structured covariance over the inner levels.

    Within one ``outer`` cluster (e.g. study) the effects for inner levels ``a`` and ``b``
    (e.g. outcome, arm) have covariance ``G[a, b]``; effects in different clusters are
    independent. ``struct``: ``"CS"`` (``G = tau² ((1-rho) I + rho J)``), ``"UN"`` (any positive
    semi-definite G), ``"DIAG"`` (``G = diag(tau²_a)``).
    """

    inner: Sequence[Any]
    outer: Sequence[Any]
    struct: Struct | str = "CS"
    name: str = "inner|outer"


RandomTerm = RandomIntercept | RandomInnerOuter


def nested(*groupings: Sequence[Any], names: Sequence[str] | None = None
           ) -> list[RandomIntercept]:
    """Random intercepts for nested grouping, like ``~ 1 | a/b/c`` in metafor.

    Level j gets a random intercept for the combination of the first j+1 groupings, so the
    labels of inner levels need not be unique across outer levels (school 1 in district 11 is
    not school 1 in district 12).
    """
    if not groupings:
        raise MetaAnalysisError("nested() needs at least one grouping")
    k = len(groupings[0])
    if any(len(g) != k for g in groupings):
        raise MetaAnalysisError("all nested groupings must have the same length")
    labels = list(names) if names is not None else [f"level{j + 1}" for j in range(len(groupings))]
    if len(labels) != len(groupings):
        raise MetaAnalysisError("need one name per nested grouping")
    out: list[RandomIntercept] = []
    for j in range(len(groupings)):
        keys = [tuple(str(groupings[m][i]) for m in range(j + 1)) for i in range(k)]
        out.append(RandomIntercept(groups=[" / ".join(t) for t in keys],
                                   name="/".join(labels[: j + 1])))
    return out


_FORMULA = re.compile(r"^\s*~\s*(.+?)\s*\|\s*(.+?)\s*$")


def parse_random(formula: str, data: Mapping[str, Sequence[Any]] | pd.DataFrame,
                 struct: Struct | str = "CS") -> list[RandomTerm]:
    """Parse a metafor-style random formula such as ``"~ 1 | study/estimate"``.

    ``"~ 1 | a/b"`` gives nested random intercepts; ``"~ inner | outer"`` a
    :class:`RandomInnerOuter` with the given ``struct``. Column values come from ``data``.
    """
    m = _FORMULA.match(formula)
    if m is None:
        raise MetaAnalysisError(f"cannot parse random formula {formula!r}; use '~ 1 | g'")
    lhs, rhs = m.group(1), m.group(2)

    def col(name: str) -> Sequence[Any]:
        key = name.strip()
        if key not in data:
            raise MetaAnalysisError(f"random formula refers to unknown column {key!r}")
        return list(data[key])

    outer_names = [s.strip() for s in rhs.split("/")]
    if lhs == "1":
        return list(nested(*[col(n) for n in outer_names], names=outer_names))
    if len(outer_names) != 1:
        raise MetaAnalysisError("'~ inner | outer' terms take a single outer grouping")
    return [RandomInnerOuter(inner=col(lhs), outer=col(outer_names[0]), struct=struct,
                             name=f"{lhs}|{outer_names[0]}")]


# ---------------------------------------------------------------------------------------------
# Internal representation of the covariance components
# ---------------------------------------------------------------------------------------------


@dataclass
class _Component:
    """One random term: M contribution ``sum_ab G[a,b] B[a][b]`` with ``G = G(theta)``."""

    name: str
    kind: str  # "intercept", "CS", "UN", "DIAG"
    levels: list[str]
    basis: list[list[FloatArray]]
    n_groups: int
    n_par: int

    def G(self, th: FloatArray) -> FloatArray:
        """Covariance matrix over the inner levels for parameters ``th``."""
        L = len(self.levels)
        if self.kind == "intercept":
            return np.array([[np.exp(th[0])]])
        if self.kind == "DIAG":
            return np.diag(np.exp(th))
        if self.kind == "CS":
            t2 = np.exp(th[0])
            rho = self._rho(th[1])
            return t2 * ((1 - rho) * np.eye(L) + rho * np.ones((L, L)))
        C = self._chol(th)
        return C @ C.T

    def dG(self, th: FloatArray) -> list[FloatArray]:
        """Derivatives of G with respect to each parameter."""
        L = len(self.levels)
        if self.kind == "intercept":
            return [np.array([[np.exp(th[0])]])]
        if self.kind == "DIAG":
            out = []
            for j in range(L):
                D = np.zeros((L, L))
                D[j, j] = np.exp(th[j])
                out.append(D)
            return out
        if self.kind == "CS":
            t2 = np.exp(th[0])
            rho = self._rho(th[1])
            lo = self._rho_lower()
            s = (rho - lo) / (1 - lo)
            drho = (1 - lo) * s * (1 - s)
            return [self.G(th), t2 * drho * (np.ones((L, L)) - np.eye(L))]
        C = self._chol(th)
        out = []
        idx = 0
        for i in range(L):
            for j in range(i + 1):
                dC = np.zeros((L, L))
                dC[i, j] = np.exp(th[idx]) if i == j else 1.0
                out.append(dC @ C.T + C @ dC.T)
                idx += 1
        return out

    def _rho_lower(self) -> float:
        L = len(self.levels)
        return -1.0 / (L - 1) if L > 1 else -1.0

    def _rho(self, x: float) -> float:
        lo = self._rho_lower()
        return float(lo + (1 - lo) / (1 + np.exp(-x)))

    def _chol(self, th: FloatArray) -> FloatArray:
        L = len(self.levels)
        C = np.zeros((L, L))
        idx = 0
        for i in range(L):
            for j in range(i + 1):
                C[i, j] = np.exp(th[idx]) if i == j else th[idx]
                idx += 1
        return C

    def start(self, scale: float) -> FloatArray:
        """Starting values: variances ``scale``, correlations 0."""
        L = len(self.levels)
        if self.kind == "intercept":
            return np.array([np.log(scale)])
        if self.kind == "DIAG":
            return np.full(L, np.log(scale))
        if self.kind == "CS":
            lo = self._rho_lower()
            s = (0.0 - lo) / (1 - lo)
            return np.array([np.log(scale), np.log(s / (1 - s))])
        th = []
        for i in range(L):
            for j in range(i + 1):
                th.append(0.5 * np.log(scale) if i == j else 0.0)
        return np.array(th)

    def bounds(self) -> list[tuple[float | None, float | None]]:
        """L-BFGS-B bounds (log variances bounded to keep the optimiser finite)."""
        L = len(self.levels)
        if self.kind in ("intercept", "DIAG"):
            return [(_LOG_MIN, _LOG_MAX)] * (1 if self.kind == "intercept" else L)
        if self.kind == "CS":
            return [(_LOG_MIN, _LOG_MAX), (-30.0, 30.0)]
        out: list[tuple[float | None, float | None]] = []
        for i in range(L):
            for j in range(i + 1):
                out.append((_LOG_MIN / 2, _LOG_MAX / 2) if i == j else (None, None))
        return out

    def M_part(self, G: FloatArray) -> FloatArray:
        """Contribution of this component to the marginal covariance (linear in ``G``)."""
        L = len(self.levels)
        if self.kind == "CS":
            # basis = [[same outer, same outer & same inner]]: CS G has one diagonal and one
            # off-diagonal value, so two k x k matrices suffice whatever the number of levels
            off = G[0, 1] if L > 1 else 0.0
            return off * self.basis[0][0] + (G[0, 0] - off) * self.basis[0][1]
        out = np.zeros_like(self.basis[0][0])
        for a in range(L):
            for b in range(L):
                if G[a, b] != 0.0:
                    out = out + G[a, b] * self.basis[a][b]
        return out


def _labels(x: Sequence[Any]) -> list[str]:
    return [str(v) for v in x]


def _build_component(term: RandomTerm, k: int) -> _Component:
    if isinstance(term, RandomIntercept):
        g = _labels(term.groups)
        if len(g) != k:
            raise MetaAnalysisError(f"random term {term.name!r} has {len(g)} labels, need {k}")
        arr = np.array(g, dtype=object)
        B = (arr[:, None] == arr[None, :]).astype(float)
        return _Component(name=term.name, kind="intercept", levels=["1"], basis=[[B]],
                          n_groups=len(set(g)), n_par=1)
    inner, outer = _labels(term.inner), _labels(term.outer)
    if len(inner) != k or len(outer) != k:
        raise MetaAnalysisError(f"random term {term.name!r} needs {k} inner and outer labels")
    struct = str(term.struct).upper()
    if struct not in ("CS", "UN", "DIAG"):
        raise MetaAnalysisError(f"unsupported struct {term.struct!r}; use CS, UN or DIAG")
    levels = sorted(set(inner))
    L = len(levels)
    o = np.array(outer, dtype=object)
    same_outer = (o[:, None] == o[None, :]).astype(float)
    if struct == "CS":
        inn = np.array(inner, dtype=object)
        same_inner = (inn[:, None] == inn[None, :]).astype(float)
        basis = [[same_outer, same_outer * same_inner]]
    else:
        ind = np.array([[1.0 if inner[i] == lev else 0.0 for lev in levels] for i in range(k)])
        basis = [[same_outer * np.outer(ind[:, a], ind[:, b]) for b in range(L)]
                 for a in range(L)]
    n_par = {"CS": 2, "DIAG": L, "UN": L * (L + 1) // 2}[struct]
    if struct == "CS" and L == 1:
        raise MetaAnalysisError("struct='CS' needs at least two inner levels")
    return _Component(name=term.name, kind=struct, levels=levels, basis=basis,
                      n_groups=len(set(outer)), n_par=n_par)


# ---------------------------------------------------------------------------------------------
# Result
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RMAMVResult:
    """Fitted multivariate/multilevel model (metafor ``rma.mv`` equivalent).

    ``sigma2`` holds the variances of :class:`RandomIntercept` terms in the given order;
    ``G`` maps each :class:`RandomInnerOuter` term name to its estimated inner covariance matrix
    (``tau2`` its diagonal, ``rho`` the correlation matrix). ``QE`` is the test of residual
    heterogeneity ``y' P y`` with ``P`` built from ``V`` alone (df k-p), as in metafor.
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
    sigma2: FloatArray
    sigma2_names: tuple[str, ...]
    sigma2_nlevels: tuple[int, ...]
    G: dict[str, FloatArray]
    G_levels: dict[str, tuple[str, ...]]
    QE: float
    QE_df: int
    QE_p: float
    QM: float | None
    QM_df: int | None
    QM_p: float | None
    loglik: float
    deviance: float
    AIC: float
    BIC: float
    AICc: float
    n_par: int
    converged: bool
    M: FloatArray = field(repr=False)
    yi: FloatArray = field(repr=False)
    V: FloatArray = field(repr=False)
    X: FloatArray = field(repr=False)

    def tau2(self, term: str) -> FloatArray:
        """Diagonal of the inner covariance matrix of ``~ inner | outer`` term ``term``."""
        return np.diag(self.G[term]).copy()

    def rho(self, term: str) -> FloatArray:
        """Correlation matrix of the random effects of term ``term``."""
        G = self.G[term]
        s = np.sqrt(np.diag(G))
        with np.errstate(invalid="ignore", divide="ignore"):
            return G / np.outer(s, s)

    def summary(self) -> pd.DataFrame:
        """Tidy coefficient rows plus one row per variance/covariance parameter (se NaN)."""
        label = f"rma.mv-{self.method}-{self.test}"
        rows: list[dict[str, Any]] = []
        for j, name in enumerate(self.coef_names):
            rows.append(dict(
                estimate=float(self.beta[j]), se=float(self.se[j]), ci_low=float(self.ci_low[j]),
                ci_high=float(self.ci_high[j]), ci_prob=self.level, method=label, term=name,
                kind="coefficient", stat=float(self.stat[j]), p_value=float(self.pval[j]),
                k=self.k))
        rows.extend(
            dict(estimate=row["estimate"], ci_prob=self.level, method=label, term=row["term"],
                 kind="variance_component", k=self.k)
            for row in self.variance_components().to_dict("records")
        )
        return summary_frame(rows)

    def variance_components(self) -> pd.DataFrame:
        """Frame of variance components: ``sigma2.j``, ``tau2.<term>.<level>``, ``rho.*``."""
        rows: list[dict[str, Any]] = []
        for j, (nm, s2) in enumerate(zip(self.sigma2_names, self.sigma2, strict=True)):
            rows.append(dict(term=f"sigma2.{j + 1}", component=nm, estimate=float(s2),
                             n_levels=self.sigma2_nlevels[j]))
        for nm, G in self.G.items():
            levs = self.G_levels[nm]
            R = self.rho(nm)
            for a, lev in enumerate(levs):
                rows.append(dict(term=f"tau2.{lev}", component=nm, estimate=float(G[a, a])))
            for a in range(len(levs)):
                for b in range(a):
                    rows.append(dict(term=f"rho.{levs[b]}.{levs[a]}", component=nm,
                                     estimate=float(R[a, b])))
        return pd.DataFrame(rows)

    def predict(self, X_new: ArrayLike | None = None, *, tau2_level: str | None = None,
                level: float | None = None) -> pd.DataFrame:
        """Predicted values with CI and PI (``rma.mv`` ``predict``).

        The PI variance is ``se² + sum(sigma2)`` plus, for an ``inner | outer`` term, the tau²
        of inner level ``tau2_level`` (required when such terms exist and differ by level).
        """
        lev = self.level if level is None else check_level(level)
        Xn = self.X[:1] if X_new is None else np.atleast_2d(np.asarray(X_new, dtype=float))
        if Xn.shape[1] != self.p:
            raise MetaAnalysisError(f"'X_new' must have {self.p} columns")
        pred = Xn @ self.beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", Xn, self.vcov, Xn))
        extra = float(np.sum(self.sigma2))
        for nm, G in self.G.items():
            d = np.diag(G)
            if tau2_level is not None:
                levs = self.G_levels[nm]
                if tau2_level not in levs:
                    raise MetaAnalysisError(f"unknown inner level {tau2_level!r} for {nm!r}")
                extra += float(d[levs.index(tau2_level)])
            elif np.allclose(d, d[0]):
                extra += float(d[0])
            else:
                raise MetaAnalysisError("give 'tau2_level' to choose which tau² enters the PI")
        crit = critical_value(lev, self.df)
        pi_se = np.sqrt(se**2 + extra)
        return pd.DataFrame(dict(pred=pred, se=se, ci_low=pred - crit * se,
                                 ci_high=pred + crit * se, pi_low=pred - crit * pi_se,
                                 pi_high=pred + crit * pi_se, pi_se=pi_se, ci_prob=lev))

    def contrast(self, L: ArrayLike, *, level: float | None = None) -> pd.DataFrame:
        """Wald test/CI for linear combinations ``L beta`` (rows of ``L``), plus joint QM."""
        lev = self.level if level is None else check_level(level)
        Lm = np.atleast_2d(np.asarray(L, dtype=float))
        est = Lm @ self.beta
        cov = Lm @ self.vcov @ Lm.T
        se = np.sqrt(np.diag(cov))
        stat = est / se
        crit = critical_value(lev, self.df)
        qm = float(est @ np.linalg.solve(cov, est))
        return summary_frame([
            dict(estimate=float(est[i]), se=float(se[i]), ci_low=float(est[i] - crit * se[i]),
                 ci_high=float(est[i] + crit * se[i]), ci_prob=lev, method="wald-contrast",
                 stat=float(stat[i]), p_value=float(two_sided_p(stat[i], self.df)),
                 QM=qm, QM_df=Lm.shape[0])
            for i in range(Lm.shape[0])
        ])


# ---------------------------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------------------------


def _as_terms(random: RandomTerm | Sequence[RandomTerm] | str | None,
              data: Mapping[str, Sequence[Any]] | pd.DataFrame | None,
              struct: str) -> list[RandomTerm]:
    if random is None:
        return []
    if isinstance(random, str):
        if data is None:
            raise MetaAnalysisError("a random formula string needs 'data'")
        return parse_random(random, data, struct)
    if isinstance(random, RandomIntercept | RandomInnerOuter):
        return [random]
    out: list[RandomTerm] = []
    for t in random:
        if isinstance(t, str):
            if data is None:
                raise MetaAnalysisError("a random formula string needs 'data'")
            out.extend(parse_random(t, data, struct))
        elif isinstance(t, RandomIntercept | RandomInnerOuter):
            out.append(t)
        else:
            raise MetaAnalysisError(f"unsupported random term {t!r}")
    return out


def _gls(y: FloatArray, X: FloatArray, M: FloatArray
         ) -> tuple[FloatArray, FloatArray, FloatArray, float, float, FloatArray]:
    """GLS pieces: beta, (X'M^-1X)^-1, M^-1 X, log|M|, log|X'M^-1X|, P y."""
    cf = linalg.cho_factor(M, lower=True)
    Mi_X = linalg.cho_solve(cf, X)
    Mi_y = linalg.cho_solve(cf, y)
    xtmx = X.T @ Mi_X
    vb = np.linalg.inv(xtmx)
    beta = vb @ (X.T @ Mi_y)
    logdet_M = 2.0 * float(np.sum(np.log(np.diag(cf[0]))))
    logdet_x = float(np.linalg.slogdet(xtmx)[1])
    Py = Mi_y - Mi_X @ beta
    return beta, vb, Mi_X, logdet_M, logdet_x, Py


def rma_mv(
    yi: ArrayLike,
    V: ArrayLike,
    *,
    X: ArrayLike | None = None,
    random: RandomTerm | Sequence[RandomTerm] | str | None = None,
    data: Mapping[str, Sequence[Any]] | pd.DataFrame | None = None,
    struct: Struct | str = "CS",
    method: Literal["REML", "ML"] | str = "REML",
    test: Literal["z", "t"] | str = "z",
    level: float = 0.95,
    coef_names_: Sequence[str] | None = None,
) -> RMAMVResult:
    """Fit a multivariate/multilevel meta-analytic model with known sampling covariance ``V``.

    Parameters
    ----------
    yi
        k effect sizes.
    V
        k x k known sampling covariance matrix (a length-k vector is taken as its diagonal).
    X
        k x p fixed-effects design (default: intercept only). No intercept is added, so
        ``~ 0 + outcome`` designs are passed as indicator columns.
    random
        ``None`` (equal-effects GLS), a :class:`RandomIntercept`/:class:`RandomInnerOuter`, a
        list of them (use :func:`nested` for ``~ 1 | a/b``), or a metafor-style formula string
        (``"~ 1 | district/study"``, ``"~ outcome | trial"``) resolved against ``data``.
    struct
        Covariance structure for formula strings of the form ``~ inner | outer``.
    method
        ``"REML"`` or ``"ML"``.
    test
        ``"z"`` or ``"t"`` (t with k-p df, as metafor's ``test="t"``).
    """
    y = as_1d("yi", yi)
    k = y.size
    Vm = np.asarray(V, dtype=float)
    if Vm.ndim == 1:
        Vm = np.diag(Vm)
    if Vm.shape != (k, k) or not np.all(np.isfinite(Vm)):
        raise MetaAnalysisError(f"'V' must be a finite {k} x {k} matrix, got shape {Vm.shape}")
    if not np.allclose(Vm, Vm.T, atol=1e-12):
        raise MetaAnalysisError("'V' must be symmetric")
    Xm = np.ones((k, 1)) if X is None else np.asarray(X, dtype=float)
    if Xm.ndim == 1:
        Xm = Xm.reshape(-1, 1)
    if Xm.shape[0] != k:
        raise MetaAnalysisError(f"'X' must have {k} rows")
    p = Xm.shape[1]
    if np.linalg.matrix_rank(Xm) < p:
        raise MetaAnalysisError("'X' is not of full column rank")
    names = coef_names(coef_names_, p, ["intrcpt"] if X is None else
                       [f"X{j + 1}" for j in range(p)])
    method = str(method).upper()
    if method not in ("REML", "ML"):
        raise MetaAnalysisError("rma_mv supports method 'REML' or 'ML'")
    test = str(test).lower()
    if test not in ("z", "t"):
        raise MetaAnalysisError("test must be 'z' or 't'")
    level = check_level(level)
    if k <= p and random is not None:
        raise MetaAnalysisError("need more estimates than coefficients to estimate variances")

    comps = [_build_component(t, k) for t in _as_terms(random, data, struct)]
    n_theta = sum(c.n_par for c in comps)
    reml = method == "REML"
    const = -0.5 * (k - p if reml else k) * np.log(2 * np.pi)
    if reml:
        const += 0.5 * float(np.linalg.slogdet(Xm.T @ Xm)[1])

    def split(theta: FloatArray) -> list[FloatArray]:
        out, i = [], 0
        for c in comps:
            out.append(theta[i: i + c.n_par])
            i += c.n_par
        return out

    def marginal(theta: FloatArray) -> FloatArray:
        M = Vm.copy()
        for c, th in zip(comps, split(theta), strict=True):
            M = M + c.M_part(c.G(th))
        return M

    def negll_grad(theta: FloatArray) -> tuple[float, FloatArray]:
        M = marginal(theta)
        try:
            beta, vb, Mi_X, ldM, ldX, Py = _gls(y, Xm, M)
        except (np.linalg.LinAlgError, linalg.LinAlgError):
            return 1e300, np.zeros_like(theta)
        r = y - Xm @ beta
        quad = float(r @ linalg.solve(M, r, assume_a="pos"))
        ll = const - 0.5 * ldM - 0.5 * quad - (0.5 * ldX if reml else 0.0)
        Mi = np.linalg.inv(M)
        Pm = Mi - Mi_X @ vb @ Mi_X.T if reml else Mi
        vec = Py if reml else Mi @ r
        grad = []
        for c, th in zip(comps, split(theta), strict=True):
            for dG in c.dG(th):
                dM = c.M_part(dG)
                grad.append(-0.5 * (float(np.sum(Pm * dM)) - float(vec @ dM @ vec)))
        return -ll, -np.asarray(grad)

    converged = True
    theta_hat = np.zeros(0)
    if comps:
        # start: a fraction of the DL-type excess variance of y, split over components
        resid_var = max(float(np.var(y - Xm @ np.linalg.lstsq(Xm, y, rcond=None)[0])), 1e-8)
        scale = max(resid_var - float(np.mean(np.diag(Vm))), resid_var * 0.1) / max(len(comps), 1)
        theta0 = np.concatenate([c.start(scale) for c in comps])
        bounds: list[tuple[float | None, float | None]] = []
        for c in comps:
            bounds.extend(c.bounds())
        best = None
        for start in (theta0, theta0 - 2.0, theta0 + 2.0):
            opt = optimize.minimize(negll_grad, start, jac=True, method="L-BFGS-B",
                                    bounds=bounds,
                                    options=dict(maxiter=2000, ftol=1e-14, gtol=1e-9))
            if best is None or opt.fun < best.fun:
                best = opt
            if opt.success:  # a second start only when the first one did not converge
                break
        assert best is not None
        theta_hat = best.x
        converged = bool(best.success) or bool(np.max(np.abs(best.jac)) < 1e-5)

    M = marginal(theta_hat)
    beta, vb, _, ldM, ldX, _ = _gls(y, Xm, M)
    r = y - Xm @ beta
    quad = float(r @ linalg.solve(M, r, assume_a="pos"))
    ll = const - 0.5 * ldM - 0.5 * quad - (0.5 * ldX if reml else 0.0)
    df = k - p if test == "t" else None
    se = np.sqrt(np.diag(vb))
    stat = beta / se
    crit = critical_value(level, df)

    intercept_col = [j for j in range(p) if np.allclose(Xm[:, j], 1.0)]
    btt = [j for j in range(p) if j not in intercept_col] if intercept_col else list(range(p))
    QM = QM_df = QM_p = None
    if btt and (p > 1 or not intercept_col):
        sub = vb[np.ix_(btt, btt)]
        qm = float(beta[btt] @ np.linalg.solve(sub, beta[btt]))
        QM_df = len(btt)
        if df is not None:
            QM = qm / QM_df
            QM_p = float(stats.f.sf(QM, QM_df, df))
        else:
            QM = qm
            QM_p = float(stats.chi2.sf(qm, QM_df))

    if k > p:
        b_fe, _, _, _, _, _ = _gls(y, Xm, Vm)
        rf = y - Xm @ b_fe
        QE = float(rf @ linalg.solve(Vm, rf, assume_a="pos"))
        QE_p = float(stats.chi2.sf(QE, k - p))
    else:
        QE, QE_p = 0.0, 1.0

    sigma2, s_names, s_nlev = [], [], []
    Gs: dict[str, FloatArray] = {}
    G_levels: dict[str, tuple[str, ...]] = {}
    for c, th in zip(comps, split(theta_hat), strict=True):
        G = c.G(th)
        if c.kind == "intercept":
            sigma2.append(float(G[0, 0]))
            s_names.append(c.name)
            s_nlev.append(c.n_groups)
        else:
            Gs[c.name] = G
            G_levels[c.name] = tuple(c.levels)
    n_par = p + n_theta
    n_eff = k - p if reml else k
    m_ = max(n_eff, n_par + 2)
    sat = 0.0 if reml else float(stats.multivariate_normal.logpdf(y, mean=y, cov=Vm))
    return RMAMVResult(
        method=method, test=test, level=level, k=k, p=p, coef_names=names, beta=beta, se=se,
        vcov=vb, stat=stat, pval=two_sided_p(stat, df), ci_low=beta - crit * se,
        ci_high=beta + crit * se, df=df, sigma2=np.asarray(sigma2, dtype=float),
        sigma2_names=tuple(s_names), sigma2_nlevels=tuple(s_nlev), G=Gs, G_levels=G_levels,
        QE=QE, QE_df=k - p, QE_p=QE_p, QM=QM, QM_df=QM_df, QM_p=QM_p, loglik=ll,
        deviance=-2.0 * (ll - sat), AIC=-2 * ll + 2 * n_par,
        BIC=-2 * ll + n_par * np.log(n_eff), AICc=-2 * ll + 2 * n_par * m_ / (m_ - n_par - 1),
        n_par=n_par, converged=converged, M=M, yi=y, V=Vm, X=Xm,
    )
