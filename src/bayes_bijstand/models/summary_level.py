r"""The summary-level hierarchical meta-analysis (PyMC), one outcome per model.

Model (``kind = "meta_components"``, ``pooling = "partial"``)::

    beta[g, c]  = mu[c] + (L z[g])[c]          component effect of gemeente g (non-centred)
    L L^T       = diag(tau) Omega diag(tau),  Omega ~ LKJ(eta)   (correlated across components)
    theta[g, a] = sum_{c in a} beta[g, c] + gamma[a]             (bundled arms: sum + interaction)
    gamma[a]    ~ Normal(0, interaction_sd)   for arms with two components, 0 otherwise

``mu``, ``tau`` and ``theta`` are per-participant effects on the model scale (risk difference
for binary outcomes, standardised mean difference for scores). Each published row i enters
through its own measurement model (see :mod:`bayes_bijstand.evidence.grades`):

    m_i = pi_i * (theta[g_i, a_i] - theta[g_i, comparator_i]) + b[comparison_i]
          + (1 - pi_i) * eta[g_i]                     (ITT-of-offer rows only)

where ``pi_i`` is the take-up rate for an ITT-of-offer estimate (Groningen's Zelen design;
1 otherwise), ``theta[., control] = 0`` and ``b`` is a bias term with a zero-mean prior for
comparisons that are not randomised contrasts with the control group (reference group,
participants only, non-randomised), and ``eta[g] ~ Normal(0, offer_spillover_sd)`` relaxes the
exclusion restriction of the Wald estimator: dividing a Zelen ITT by a 10% take-up multiplies
any difference among the 90% who declined by nine, so a small common shift among decliners
(shared by all arms compared with the same control group) is allowed for. Gaussian rows: ``y ~ MvNormal(m, S R S)`` with R from
:func:`bayes_bijstand.covariance.contrast_correlation` and S the row SEs (known, design-based
times ``sqrt(1 - R2[g])`` with ``R2 ~ Beta``, or latent and interval-censored by a
significance marker). Prose rows: the sign and an interval for ``z = y / s`` are observed,
``z ~ Normal(m / s, 1)`` with ``s`` around the design SE from the registry's group sizes.

The correlation prior is written as independent ``tau[c] ~ HalfNormal(tau_sd)`` and an LKJ
Cholesky factor through canonical partial correlations (:func:`lkj_corr_cholesky`), the
same prior as ``pm.LKJCholeskyCov`` in a form that pads to more components.
:mod:`bayes_bijstand.models.padded` holds the same model with fixed (padded) shapes and
data containers, compiled once and reused across outcomes; this module is the readable
reference.

``kind = "meta_arms"`` keeps arms as they are (each arm its own component, no interaction).
``pooling = "full"`` sets ``beta[g] = mu``; ``pooling = "none"`` gives each gemeente its own
effects with the ``mu`` prior and no pooled mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from ..constants import DIM_ARM, DIM_COMPONENT, DIM_GEMEENTE
from ..covariance import contrast_correlation
from ..evidence.grades import COMPONENT_ORDER, components_of
from ..specs import ModelSpec

DIM_BIAS = "bias_comparison"
"""Dimension of the ``bias`` terms (a variable may not share its name with its dimension)."""

_NON_ARMS = ("control", "reference", "participants", "non_participants")


@dataclass(frozen=True)
class MetaData:
    """Everything the model needs for one outcome, as plain arrays and tables."""

    outcome: str
    kind: str  # binary | score
    rows: pd.DataFrame  # used rows of the measurement table
    gemeenten: tuple[str, ...]
    components: tuple[str, ...]
    arms: tuple[str, ...]
    W: np.ndarray  # arms x components, 0/1
    bundles: tuple[str, ...]
    corr: np.ndarray  # gaussian rows x gaussian rows
    biases: tuple[str, ...]
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def gaussian(self) -> pd.DataFrame:
        return self.rows[self.rows["family"] == "gaussian"]

    @property
    def censored(self) -> pd.DataFrame:
        return self.rows[self.rows["family"] == "z_censored"]


def prepare(table: pd.DataFrame, outcome: str, kind: str, spec: ModelSpec) -> MetaData:
    """Index the used rows of a measurement table for the model."""
    rows = table[table["used"]].reset_index(drop=True)
    if rows.empty:
        raise ValueError(f"no usable evidence for outcome '{outcome}'")
    gemeenten = tuple(dict.fromkeys(rows["gemeente"]))
    # A comparator is a modelled arm only if it is a treatment (an arm-vs-arm contrast);
    # other comparators (control, reference, a non-randomised provider such as TNO's
    # `provider_c`) are the zero point of the contrast.
    treatments = set(rows["arm"]) | {c for c in rows["comparator"]
                                     if components_of(c) and set(components_of(c)) <= set(COMPONENT_ORDER)}
    arm_set = [a for a in dict.fromkeys(list(rows["arm"]) + list(rows["comparator"]))
               if a not in _NON_ARMS and a in treatments]
    if spec.kind == "meta_components":
        comps = {c for a in arm_set for c in components_of(a)}
        components = tuple([c for c in COMPONENT_ORDER if c in comps]
                           + sorted(comps - set(COMPONENT_ORDER)))
    else:
        components = tuple(arm_set)
    arms = tuple(arm_set)
    W = np.zeros((len(arms), len(components)))
    for i, a in enumerate(arms):
        for c in (components_of(a) if spec.kind == "meta_components" else [a]):
            W[i, components.index(c)] = 1.0
    bundles = tuple(a for a in arms if spec.kind == "meta_components" and len(components_of(a)) > 1)
    gauss = rows[rows["family"] == "gaussian"]
    corr = contrast_correlation(gauss.reset_index(drop=True), rho_months=spec.rho_months)
    biases = tuple(sorted(set(rows["comparison"]) & set(spec.bias_sd)))
    return MetaData(outcome=outcome, kind=kind, rows=rows, gemeenten=gemeenten,
                    components=components, arms=arms, W=W, bundles=bundles, corr=corr,
                    biases=biases)


def lkj_cpc_beta(n: int, eta: float) -> np.ndarray:
    """Beta parameters of the canonical partial correlations of LKJ(eta) in dimension n.

    The CPCs (lower triangle of the Cholesky factor, row-major order of
    ``np.tril_indices(n, -1)``) are independent, ``(z + 1) / 2 ~ Beta(b, b)`` with
    ``b = eta + (n - 2 - j) / 2`` for column j (Lewandowski, Kurowicka & Joe 2009).
    The first k rows only use CPCs of those rows, so with these parameters the leading
    k x k block of a larger matrix is exactly LKJ(eta) in dimension k.
    """
    _, j = np.tril_indices(n, -1)
    return eta + (n - 2 - j) / 2.0


def cpc_cholesky(z: pt.TensorVariable, n: int) -> pt.TensorVariable:
    """Cholesky factor of a correlation matrix from its canonical partial correlations.

    ``L[i, j] = z[i, j] * prod_{k<j} sqrt(1 - z[i, k]^2)`` below the diagonal and
    ``L[i, i] = prod_{k<i} sqrt(1 - z[i, k]^2)``; written with constant matrix products
    (scatter, exclusive cumulative sum), which compile quickly with numba.
    """
    if n == 1:
        return pt.ones((1, 1))
    i, j = np.tril_indices(n, -1)
    scatter = np.zeros((n * n, len(i)))
    scatter[i * n + j, np.arange(len(i))] = 1.0
    Z = pt.dot(pt.as_tensor_variable(scatter), z).reshape((n, n))
    before = np.triu(np.ones((n, n)), 1)  # before[k, j] = 1 if k < j
    excl = pt.dot(pt.log1p(-(Z**2)), pt.as_tensor_variable(before))
    return (Z + np.eye(n)) * pt.exp(0.5 * excl)


def lkj_corr_cholesky(name: str, beta: object, n: int) -> pt.TensorVariable:
    """An LKJ-distributed correlation Cholesky factor (n x n); ``beta`` from :func:`lkj_cpc_beta`.

    The CPCs get their Beta priors as free variables ``{name}_cpc_raw`` (logit-transformed by
    PyMC), so the implied prior on the correlation matrix is LKJ(eta); with n = 1 the
    factor is [[1]].
    """
    if n == 1:
        return pt.ones((1, 1))
    u = pm.Beta(f"{name}_cpc_raw", beta, beta, shape=n * (n - 1) // 2)
    return cpc_cholesky(2.0 * u - 1.0, n)


def _std_normal_logcdf(x: pt.TensorVariable) -> pt.TensorVariable:
    """``log Phi(x)`` from one scaled complementary error function, exact in the lower tail.

    ``Phi(x) = erfcx(-x / sqrt 2) exp(-x^2 / 2) / 2``; PyMC's ``normal_lcdf`` evaluates this
    and a second (erfc) branch for every element, which made the censored likelihood the
    costliest term of the log density. Above the mean the one-branch form is exact to an
    absolute ~1e-13 (the rounding of ``x^2 / 2``; :func:`log_interval_prob` only uses it
    against a log-CDF below ``log 1/2``, so the interval's log-probability keeps that
    absolute accuracy); ``x`` is capped at 30, where ``Phi(x) = 1`` in double precision, so
    that ``erfcx`` cannot overflow.
    """
    x = pt.minimum(x, 30.0)
    return pt.log(0.5 * pt.erfcx(-x / np.sqrt(2.0))) - 0.5 * x**2


Z_MAX = 40.0
"""|z| bound used for an open band (``z > 1.96``): the normal mass beyond it is 0 in double precision."""


def z_bands(z_lo: np.ndarray, z_hi: np.ndarray, sign: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The band(s) of ``z = y / s`` a prose row observes, as at most two intervals.

    A row says ``|z|`` lies in ``[z_lo, z_hi]`` and gives the sign of ``z`` (1 or -1) or not
    (0). Known sign: one band. Unknown sign with ``z_lo = 0`` ("not significant"): the
    single band ``[-z_hi, z_hi]``. Unknown sign with ``z_lo > 0`` ("significant, direction
    not reported"): two bands, ``[z_lo, z_hi]`` and ``[-z_hi, -z_lo]``. Returns ``(lo1, hi1,
    lo2, hi2, two)``; where ``two`` is false the second band is a placeholder ``[-1, 1]``.
    The log-likelihood is ``log P(band 1)``, or ``logaddexp`` of both bands where ``two``.
    """
    zlo = np.asarray(z_lo, dtype=float)
    zhi = np.minimum(np.asarray(z_hi, dtype=float), Z_MAX)
    sg = np.asarray(sign, dtype=float)
    two = (sg == 0) & (zlo > 0)
    lo1 = np.where(sg > 0, zlo, np.where(sg < 0, -zhi, np.where(two, zlo, -zhi)))
    hi1 = np.where(sg < 0, -zlo, zhi)
    lo2 = np.where(two, -zhi, -1.0)
    hi2 = np.where(two, -zlo, 1.0)
    return lo1, hi1, lo2, hi2, two


def log_interval_prob(a: pt.TensorVariable, b: pt.TensorVariable) -> pt.TensorVariable:
    """``log(Phi(b) - Phi(a))`` for ``a < b``, finite far into either tail.

    ``logdiffexp(logPhi(b), logPhi(a))`` is exact for intervals below the mean but rounds to
    ``log(1 - 1) = -inf`` once both ends are more than ~8 SD above it (both log-CDFs are 0
    in double precision). A sampler's trajectory does go there, and an infinite log density
    is reported as a divergence ("logp function returned error"), so an interval above the
    mean is mirrored first: ``Phi(b) - Phi(a) = Phi(-a) - Phi(-b)``, exact there. Only the
    inputs are switched, so each row evaluates two log-CDFs (not four) and no unused branch
    can produce an infinite value whose gradient (times zero) would turn into NaN.
    """
    lcdf = _std_normal_logcdf
    up = a > 0
    lo = pt.where(up, -b, a)
    hi = pt.where(up, -a, b)
    return pm.math.logdiffexp(lcdf(hi), lcdf(lo))


def build_model(data: MetaData, spec: ModelSpec, *, pooling: str | None = None) -> pm.Model:
    """Compile the PyMC model for one outcome (no sampling)."""
    pooling = pooling or spec.pooling
    pri = spec.priors(data.kind)
    G, C, A = len(data.gemeenten), len(data.components), len(data.arms)
    rows = data.rows
    coords = {DIM_GEMEENTE: list(data.gemeenten), DIM_COMPONENT: list(data.components),
              DIM_ARM: list(data.arms), "row": list(rows["row_id"])}
    if data.bundles:
        coords["bundle"] = list(data.bundles)
    if data.biases:
        coords[DIM_BIAS] = list(data.biases)
    with pm.Model(coords=coords) as model:
        W = pt.as_tensor_variable(data.W)
        if pooling == "none":
            beta = pm.Normal("beta", 0.0, float(np.hypot(pri.mu_sd, pri.tau_sd)),
                             dims=(DIM_GEMEENTE, DIM_COMPONENT))
        else:
            mu = pm.Normal("mu", 0.0, pri.mu_sd, dims=DIM_COMPONENT)
            if pooling == "full":
                beta = pm.Deterministic("beta", pt.tile(mu[None, :], (G, 1)),
                                        dims=(DIM_GEMEENTE, DIM_COMPONENT))
                chol = pt.zeros((C, C))
            else:
                # Independent half-normal scales times an LKJ correlation Cholesky factor,
                # written through canonical partial correlations (see lkj_corr_cholesky).
                tau = pm.HalfNormal("tau", pri.tau_sd, dims=DIM_COMPONENT)
                L = lkj_corr_cholesky("corr", lkj_cpc_beta(C, pri.lkj_eta), C)
                chol = tau[:, None] * L
                if C > 1:
                    model.add_coord("component_b", list(data.components))
                    pm.Deterministic("corr", L @ L.T, dims=(DIM_COMPONENT, "component_b"))
                z = pm.Normal("z_offset", 0.0, 1.0, dims=(DIM_GEMEENTE, DIM_COMPONENT))
                beta = pm.Deterministic("beta", mu[None, :] + z @ chol.T,
                                        dims=(DIM_GEMEENTE, DIM_COMPONENT))
        gamma_full = pt.zeros(A)
        if data.bundles:
            gamma = pm.Normal("gamma", 0.0, pri.interaction_sd, dims="bundle")
            idx = np.array([data.arms.index(b) for b in data.bundles])
            gamma_full = pt.set_subtensor(gamma_full[idx], gamma)
        theta = pm.Deterministic("theta", beta @ W.T + gamma_full[None, :],
                                 dims=(DIM_GEMEENTE, DIM_ARM))
        if pooling != "none":
            pm.Deterministic("mu_arm", W @ mu + gamma_full, dims=DIM_ARM)
            if pooling == "partial":
                z_new = pm.Normal("z_new_offset", 0.0, 1.0, dims=DIM_COMPONENT)
                beta_new = mu + chol @ z_new
                pm.Deterministic("theta_new", W @ beta_new + gamma_full, dims=DIM_ARM)
                sigma = chol @ chol.T
                pm.Deterministic("tau_arm", pt.sqrt(pt.diag(W @ sigma @ W.T) + 1e-12), dims=DIM_ARM)
        # Row means.
        g_idx = np.array([data.gemeenten.index(g) for g in rows["gemeente"]])
        a_idx = np.array([data.arms.index(a) for a in rows["arm"]])
        comp = rows["comparator"].to_numpy()
        c_idx = np.array([data.arms.index(c) if c in data.arms else -1 for c in comp])
        contrast = theta[g_idx, a_idx] - pt.where(c_idx >= 0, theta[g_idx, np.maximum(c_idx, 0)], 0.0)
        takeup = rows["takeup"].to_numpy(dtype=float)
        m = pt.as_tensor_variable(takeup) * contrast
        offer = (rows["estimand"] == "itt_offer").to_numpy() & (takeup < 1)
        if offer.any() and spec.offer_spillover_sd > 0:
            # Zelen designs: the offer may move those who decline it (or the groups of
            # decliners may differ by chance), shared by all contrasts with one control group.
            gem = sorted(set(rows.loc[offer, "gemeente"]))
            model.add_coord("offer_gemeente", gem)
            eta = pm.Normal("offer_spillover", 0.0, spec.offer_spillover_sd, dims="offer_gemeente")
            e_idx = np.array([gem.index(g) if o else 0 for g, o in zip(rows["gemeente"], offer, strict=True)])
            m = m + pt.where(offer, (1 - takeup) * eta[e_idx], 0.0)
        if data.biases:
            b = pm.Normal("bias", 0.0, np.array([spec.bias_sd[k] for k in data.biases]), dims=DIM_BIAS)
            b_full = pt.concatenate([b, pt.zeros(1)])
            b_idx = np.array([data.biases.index(c) if c in data.biases else len(data.biases)
                              for c in rows["comparison"]])
            m = m + b_full[b_idx]
        _gaussian_likelihood(data, spec, m, model)
        _censored_likelihood(data, m)
    return model


def _gaussian_likelihood(data: MetaData, spec: ModelSpec, m: pt.TensorVariable,
                         model: pm.Model) -> None:
    rows = data.rows
    gmask = (rows["family"] == "gaussian").to_numpy()
    if not gmask.any():
        return
    g = rows[gmask].reset_index(drop=True)
    pos = np.flatnonzero(gmask)
    s = pt.as_tensor_variable(g["se"].to_numpy(dtype=float))
    counts = (g["grade"] == "counts").to_numpy()
    if counts.any():
        gem = sorted(set(g.loc[counts, "gemeente"]))
        model.add_coord("r2_gemeente", gem)
        r2 = pm.Beta("r2", spec.r2_alpha, spec.r2_beta, dims="r2_gemeente")
        gi = np.array([gem.index(x) for x in g.loc[counts, "gemeente"]])
        s_counts = pt.as_tensor_variable(g.loc[counts, "se_design"].to_numpy(float)) * pt.sqrt(1 - r2[gi])
        s = pt.set_subtensor(s[np.flatnonzero(counts)], s_counts)
    marker = (g["grade"] == "marker").to_numpy()
    if marker.any():
        mk = g[marker]
        lo = mk["se_lo"].to_numpy(float)
        hi = mk["se_hi"].to_numpy(float)
        design = mk["se_design"].to_numpy(float)
        r2_mean = spec.r2_alpha / (spec.r2_alpha + spec.r2_beta)
        center = np.where(np.isfinite(design), design * np.sqrt(1 - r2_mean),
                          np.where(np.isfinite(hi), np.sqrt(np.maximum(lo, 1e-6) * hi), lo * 1.5))
        sig = np.where(np.isfinite(design), 0.5, 1.0)
        model.add_coord("marker_row", list(mk["row_id"]))
        s_marker = _bounded_lognormal("se_marker", center, sig, lo, hi, dims="marker_row")
        s = pt.set_subtensor(s[np.flatnonzero(marker)], s_marker)
    y = g["y"].to_numpy(float)
    R = data.corr
    model.add_coord("gaussian_row", list(g["row_id"]))
    pm.Deterministic("se_row", s, dims="gaussian_row")
    mg = m[pos]
    if np.allclose(R, np.eye(len(R))):
        pm.Normal("y", mu=mg, sigma=s, observed=y, dims="gaussian_row")
    else:
        cov = R * pt.outer(s, s)
        pm.MvNormal("y", mu=mg, cov=cov, observed=y, dims="gaussian_row")


def _bounded_lognormal(name: str, center: np.ndarray, sigma: np.ndarray, lo: np.ndarray,
                       hi: np.ndarray, *, dims: str) -> pt.TensorVariable:
    """A LogNormal(log center, sigma) variable truncated to [lo, hi] (hi may be inf).

    Written out by hand (unconstrained ``x``, explicit Jacobian) because the interval
    comes from a significance marker and may exclude the prior centre; PyMC's
    ``Truncated`` then starts from an invalid point. The truncation's normalising constant
    is fixed by the data and omitted.
    """
    finite = np.isfinite(hi)
    x = pm.Flat(f"{name}_raw", dims=dims, initval=np.zeros(len(lo)))
    width = np.where(finite, hi - lo, 1.0)
    sig_x = pm.math.sigmoid(x)
    s = pt.where(finite, lo + width * sig_x, lo + pt.exp(x))
    log_jac = pt.where(finite, np.log(width) + pt.log(sig_x) + pt.log1p(-sig_x), x)
    logp = pm.logp(pm.LogNormal.dist(mu=np.log(center), sigma=sigma), s)
    pm.Potential(f"{name}_prior", (logp + log_jac).sum())
    return pm.Deterministic(name, s, dims=dims)


def _censored_likelihood(data: MetaData, m: pt.TensorVariable) -> None:
    rows = data.rows
    cmask = (rows["family"] == "z_censored").to_numpy()
    if not cmask.any():
        return
    c = rows[cmask]
    pos = np.flatnonzero(cmask)
    pm.modelcontext(None).add_coord("censored_row", list(c["row_id"]))
    s = pm.LogNormal("se_censored", mu=np.log(c["se_design"].to_numpy(float)), sigma=0.35,
                     dims="censored_row")
    e = m[pos] / s
    zlo = c["z_lo"].to_numpy(float)
    zhi = np.minimum(c["z_hi"].to_numpy(float), Z_MAX)
    pos_ll = log_interval_prob(zlo - e, zhi - e)
    neg_ll = log_interval_prob(-zhi - e, -zlo - e)
    sign = c["sign"].to_numpy(int)
    ll = pt.where(sign > 0, pos_ll, pt.where(sign < 0, neg_ll, pt.logaddexp(pos_ll, neg_ll)))
    pm.Deterministic("loglik_censored", ll, dims="censored_row")
    pm.Potential("censored_z", ll.sum())
