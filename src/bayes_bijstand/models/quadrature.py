"""Exact posterior of the normal-normal random-effects model by one-dimensional quadrature.

The model (as in R's ``bayesmeta``) is

    y_i | theta_i ~ N(theta_i, s_i^2)       (s_i known)
    theta_i | mu, tau ~ N(mu, tau^2)
    mu ~ N(mu0, sd_mu^2)   or   p(mu) = 1 (flat, improper)
    tau ~ p(tau)           (half-normal, half-Cauchy, half-Student-t, uniform, or any log-density)

Why quadrature rather than MCMC: given ``tau`` everything is Gaussian, so ``mu`` can be
integrated out in closed form and the marginal posterior of ``tau`` is one-dimensional. A
1-D integral can be done to ~1e-10 relative accuracy in a few milliseconds, which makes
this path (i) a reference against which MCMC fits of the same model are checked, (ii) fast
enough for simulation-based calibration with thousands of replications, and (iii) the only
way to get an honest marginal likelihood (Bayes factor) for this model cheaply.

Numerics. The marginal posterior of ``tau`` is integrated on ``u = log(tau)``: the integrand
``tau * p(tau | y)`` decays exponentially in ``u`` at both ends (like ``tau`` near 0 and
polynomially in ``tau`` for large ``tau``), so a finite ``u`` range holds all but ~1e-17 of the
mass even for half-Cauchy priors. The range is located on a coarse grid, then covered by
panels of Gauss-Legendre nodes that are bisected adaptively until each panel's integral agrees
with that of its two halves to ``rtol``. The resulting nodes ``tau_j`` with normalised weights
``W_j`` turn every posterior quantity into a finite mixture: ``p(mu | y) = sum_j W_j N(mu;
m(tau_j), v(tau_j))`` and likewise for the predictive ``theta_new`` and the shrunken
``theta_i``. Because the quadrature error in ``tau`` is ~1e-10, those mixtures are exact to
that accuracy (unlike a coarse discrete-grid approximation such as bayesmeta's DIRECT
algorithm, which is accurate to ~1e-4).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special

__all__ = [
    "ExactPosterior",
    "TauPrior",
    "exact_normal_normal",
    "tau_log_prior",
]

FloatArray = NDArray[np.float64]
LogDensity = Callable[[FloatArray], FloatArray]
TauPrior = tuple[str, float] | tuple[str, float, float] | Callable[[FloatArray], Any]

_LOG_2PI = math.log(2.0 * math.pi)
# Gauss-Legendre order per panel; nodes/weights on [-1, 1].
_GL_ORDER = 10
_GL_X, _GL_W = np.polynomial.legendre.leggauss(_GL_ORDER)
# Log-density drop (relative to the maximum) below which the tau integrand is ignored;
# exp(-42) ~ 6e-19, so the neglected mass is far below any tolerance we report.
_LOG_CUTOFF = 42.0
_COARSE_STEP = 0.25
# Number of panels placed across +-6 posterior sd (in log tau) around the mode.
_N_FINE = 8


# --------------------------------------------------------------------------------------
# priors on tau
# --------------------------------------------------------------------------------------


def tau_log_prior(spec: TauPrior) -> tuple[LogDensity, float, float | None, bool]:
    """Turn a tau-prior specification into a vectorised log-density.

    Parameters
    ----------
    spec
        ``("halfnormal", sd)``, ``("halfcauchy", scale)``, ``("halft", nu, scale)`` (alias
        ``"halfstudentt"``), ``("uniform", upper)`` (``upper=inf`` means the improper flat
        prior on ``(0, inf)`` that bayesmeta uses by default), or a callable mapping an array
        of ``tau > 0`` to log-densities (normalised if the marginal likelihood is to be used).

    Returns
    -------
    (logpdf, upper, scale, proper)
        ``upper`` is the end of the support (``inf`` if unbounded), ``scale`` a typical scale
        used to place the integration grid (``None`` if unknown), and ``proper`` whether the
        density is known to integrate to one (callables are trusted to be).
    """
    if callable(spec):
        fn = spec

        def logpdf_callable(t: FloatArray) -> FloatArray:
            t = np.asarray(t, dtype=float)
            try:
                out = np.asarray(fn(t), dtype=float)
            except (TypeError, ValueError):  # scalar-only callable (math.* functions)
                out = np.empty(0)
            if out.shape != t.shape:  # evaluate element-wise
                with np.errstate(all="ignore"):
                    vals = []
                    for x in t.ravel():
                        try:
                            vals.append(float(fn(float(x))))
                        except (ValueError, OverflowError, ZeroDivisionError):
                            vals.append(-math.inf)
                out = np.array(vals).reshape(t.shape)
            return np.where(np.isnan(out), -np.inf, out)

        return logpdf_callable, math.inf, None, True

    if not isinstance(spec, tuple | list) or len(spec) < 2:
        raise ValueError(f"tau_prior must be a (name, parameter...) tuple or callable, got {spec!r}")
    name = str(spec[0]).lower().replace("-", "").replace("_", "")
    params = [float(p) for p in spec[1:]]

    def _positive(value: float, what: str) -> float:
        if not (value > 0.0):
            raise ValueError(f"tau_prior {spec[0]!r}: {what} must be > 0, got {value}")
        return value

    if name == "halfnormal" and len(params) == 1:
        sd = _positive(params[0], "sd")
        const = 0.5 * math.log(2.0 / math.pi) - math.log(sd)
        return (lambda t: const - 0.5 * (np.asarray(t) / sd) ** 2), math.inf, sd, True
    if name == "halfcauchy" and len(params) == 1:
        scale = _positive(params[0], "scale")
        const = math.log(2.0 / (math.pi * scale))
        return (lambda t: const - np.log1p((np.asarray(t) / scale) ** 2)), math.inf, scale, True
    if name in {"halft", "halfstudentt"} and len(params) == 2:
        nu = _positive(params[0], "nu")
        scale = _positive(params[1], "scale")
        const = (
            math.log(2.0)
            + special.gammaln((nu + 1) / 2)
            - special.gammaln(nu / 2)
            - 0.5 * math.log(nu * math.pi)
            - math.log(scale)
        )

        def logpdf_halft(t: FloatArray) -> FloatArray:
            return const - 0.5 * (nu + 1) * np.log1p((np.asarray(t) / scale) ** 2 / nu)

        return logpdf_halft, math.inf, scale, True
    if name == "uniform" and len(params) == 1:
        upper = _positive(params[0], "upper")
        if math.isinf(upper):
            return (lambda t: np.zeros_like(np.asarray(t, dtype=float))), math.inf, None, False
        const = -math.log(upper)

        def logpdf_uniform(t: FloatArray) -> FloatArray:
            t = np.asarray(t, dtype=float)
            return np.where(t <= upper, const, -np.inf)

        return logpdf_uniform, upper, upper, True
    raise ValueError(
        f"unknown tau_prior {spec!r}; use ('halfnormal', sd), ('halfcauchy', scale), "
        "('halft', nu, scale), ('uniform', upper) or a callable log-density"
    )


# --------------------------------------------------------------------------------------
# conditional (given tau) Gaussian algebra
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Conditional:
    """Everything that is Gaussian given tau, evaluated at an array of tau values."""

    mean: FloatArray  # E[mu | tau, y]
    var: FloatArray  # Var[mu | tau, y]
    loglik: FloatArray  # log p(y | tau) with mu integrated out against its prior


def _conditional(
    tau: FloatArray, y: FloatArray, s2: FloatArray, mu0: float, var_mu: float | None
) -> _Conditional:
    """Integrate mu out analytically for each tau (vectorised over ``tau``).

    The prior on mu acts as one more "observation" ``mu0`` with variance ``var_mu``; the
    integral over mu of a product of ``n`` normal densities in mu is
    ``(2 pi)^{-(n-1)/2} prod(v)^{-1/2} (sum 1/v)^{-1/2} exp(-Q/2)`` with ``Q`` the weighted
    sum of squares about the precision-weighted mean. A flat prior on mu drops that term.
    """
    tau = np.asarray(tau, dtype=float)
    v = s2[None, :] + (tau**2)[:, None]  # (n_tau, k)
    w = 1.0 / v
    prec = w.sum(axis=1)
    wy = (w * y[None, :]).sum(axis=1)
    n_obs = y.size
    log_det = np.log(v).sum(axis=1)
    if var_mu is not None:
        prec = prec + 1.0 / var_mu
        wy = wy + mu0 / var_mu
        n_obs += 1
        log_det = log_det + math.log(var_mu)
    mean = wy / prec
    q = (w * (y[None, :] - mean[:, None]) ** 2).sum(axis=1)
    if var_mu is not None:
        q = q + (mean - mu0) ** 2 / var_mu
    loglik = -0.5 * ((n_obs - 1) * _LOG_2PI + log_det + np.log(prec) + q)
    return _Conditional(mean=mean, var=1.0 / prec, loglik=loglik)


# --------------------------------------------------------------------------------------
# normal-mixture helpers
# --------------------------------------------------------------------------------------


def _mixture_cdf(x: FloatArray, means: FloatArray, sds: FloatArray, w: FloatArray) -> FloatArray:
    """CDF of ``sum_j w_j N(means[..., j], sds[..., j]^2)`` at ``x`` (broadcast on leading axes)."""
    z = (np.asarray(x)[..., None] - means) / sds
    return (special.ndtr(z) * w).sum(axis=-1)


def _mixture_sf(x: FloatArray, means: FloatArray, sds: FloatArray, w: FloatArray) -> FloatArray:
    """Survival function of the mixture; accurate in the upper tail (no ``1 - cdf`` loss)."""
    z = (np.asarray(x)[..., None] - means) / sds
    return (special.ndtr(-z) * w).sum(axis=-1)


def _mixture_pdf(x: FloatArray, means: FloatArray, sds: FloatArray, w: FloatArray) -> FloatArray:
    """Density of the normal mixture at ``x``."""
    z = (np.asarray(x)[..., None] - means) / sds
    return (np.exp(-0.5 * z**2) / (sds * math.sqrt(2 * math.pi)) * w).sum(axis=-1)


def _mixture_quantile(
    probs: FloatArray, means: FloatArray, sds: FloatArray, w: FloatArray
) -> FloatArray:
    """Quantiles of normal mixtures, vectorised over many mixtures and probabilities.

    ``means`` and ``sds`` have shape ``(R, N)`` (R mixtures sharing the weights ``w`` of
    length N); ``probs`` has shape ``(R, Q)``. Safeguarded Newton iteration: each step is a
    Newton step on ``F(x) - p`` if it stays inside the current bracket, else a bisection, so it
    converges for any mixture and quadratically near the root.
    """
    means = np.atleast_2d(means)
    sds = np.atleast_2d(sds)
    probs = np.asarray(probs, dtype=float)
    if np.any((probs <= 0) | (probs >= 1)):
        raise ValueError("quantile probabilities must lie strictly between 0 and 1")
    mu_bar = (means * w).sum(axis=1)
    sd_bar = np.sqrt(((sds**2 + means**2) * w).sum(axis=1) - mu_bar**2)
    lo = np.broadcast_to((means - 40.0 * sds).min(axis=1)[:, None], probs.shape).copy()
    hi = np.broadcast_to((means + 40.0 * sds).max(axis=1)[:, None], probs.shape).copy()
    # normal approximation as a starting point
    x = mu_bar[:, None] + sd_bar[:, None] * special.ndtri(probs)
    x = np.clip(x, lo, hi)
    mb = means[:, None, :]
    sb = sds[:, None, :]
    for _ in range(100):
        f = _mixture_cdf(x, mb, sb, w) - probs
        below = f < 0
        lo = np.where(below, x, lo)
        hi = np.where(below, hi, x)
        dens = _mixture_pdf(x, mb, sb, w)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = x - f / dens
        ok = np.isfinite(step) & (step > lo) & (step < hi)
        x_new = np.where(ok, step, 0.5 * (lo + hi))
        scale = np.maximum(np.abs(x_new), sd_bar[:, None])
        done = (np.abs(x_new - x) <= 1e-12 * scale) | (np.abs(f) <= 1e-15)
        x = np.where(np.abs(f) <= 1e-15, x, x_new)
        if np.all(done):
            break
    return x


# --------------------------------------------------------------------------------------
# the result object
# --------------------------------------------------------------------------------------


def _as_probs(q: ArrayLike) -> tuple[FloatArray, bool]:
    arr = np.asarray(q, dtype=float)
    return np.atleast_1d(arr), arr.ndim == 0


@dataclass(frozen=True, eq=False)
class ExactPosterior:
    """Exact (quadrature) posterior of the normal-normal random-effects model.

    Build it with :func:`exact_normal_normal`. Internally it holds quadrature nodes ``tau``
    (on the ``log(tau)`` scale, Gauss-Legendre per panel) with normalised posterior weights
    ``weights``, and the Gaussian conditional moments of ``mu`` at each node; all
    marginal quantities are mixtures over these nodes.

    Attributes
    ----------
    y, s
        The data (estimates and their known standard errors).
    mu_prior
        ``(mu0, sd_mu)`` or ``None`` for the flat prior.
    tau_prior
        The specification as passed.
    tau, weights
        Quadrature nodes and normalised posterior weights (sum to 1).
    cond_mean, cond_var
        ``E[mu | tau_j, y]`` and ``Var[mu | tau_j, y]`` at the nodes.
    log_marginal_likelihood
        ``log p(y)`` under the stated priors. Meaningful for Bayes factors only when both
        priors are proper (``prior_is_proper``); with a flat prior it is defined only up to
        the arbitrary constant of the improper density (taken as 1 here).
    prior_is_proper
        Whether both priors are proper densities.
    s2_typical
        Higgins-Thompson "typical" within-study variance used for I^2.
    tau_mean_finite, tau_var_finite
        Whether ``E[tau | y]`` / ``E[tau^2 | y]`` exist. With flat priors and few studies the
        posterior of tau has a polynomial tail (``p(tau | y) ~ tau^-(k-1)`` for flat mu and
        tau); the moments that diverge are then reported as ``inf`` instead of a truncated
        number (quantiles remain well defined).
    """

    y: FloatArray
    s: FloatArray
    mu_prior: tuple[float, float] | None
    tau_prior: Any
    tau: FloatArray
    weights: FloatArray
    cond_mean: FloatArray
    cond_var: FloatArray
    log_marginal_likelihood: float
    prior_is_proper: bool
    s2_typical: float
    tau_mean_finite: bool
    tau_var_finite: bool
    # internal: panels on the log(tau) scale and their posterior masses, for the tau CDF
    _panel_lo: FloatArray = field(repr=False)
    _panel_hi: FloatArray = field(repr=False)
    _panel_cum: FloatArray = field(repr=False)
    _log_post: LogDensity = field(repr=False)  # unnormalised log p(tau | y) (tau scale)
    _log_norm: float = field(repr=False)

    # ---------------------------------------------------------------- tau -------------
    @property
    def k(self) -> int:
        """Number of studies."""
        return int(self.y.size)

    def tau_pdf(self, t: ArrayLike) -> FloatArray:
        """Marginal posterior density ``p(tau | y)`` (0 for ``tau < 0``)."""
        t = np.asarray(t, dtype=float)
        out = np.zeros_like(t)
        pos = t > 0
        if np.any(pos):
            out[pos] = np.exp(self._log_post(t[pos]) - self._log_norm)
        return out

    def _tau_cdf_u(self, u: float) -> float:
        """Posterior CDF of tau at ``exp(u)``: panel masses plus one partial panel."""
        if u <= self._panel_lo[0]:
            return 0.0
        if u >= self._panel_hi[-1]:
            return 1.0
        i = int(np.searchsorted(self._panel_lo, u, side="right")) - 1
        a = self._panel_lo[i]
        half = 0.5 * (u - a)
        nodes = a + half * (_GL_X + 1.0)
        part = half * float(np.sum(_GL_W * np.exp(self._log_post(np.exp(nodes)) + nodes - self._log_norm)))
        return float(min(1.0, self._panel_cum[i] + part))

    def tau_cdf(self, t: ArrayLike) -> FloatArray | float:
        """Marginal posterior CDF ``P(tau <= t | y)``."""
        arr = np.asarray(t, dtype=float)
        flat = [0.0 if x <= 0 else self._tau_cdf_u(math.log(x)) for x in np.atleast_1d(arr)]
        out = np.asarray(flat).reshape(arr.shape)
        return float(out) if arr.ndim == 0 else out

    def tau_quantile(self, q: ArrayLike) -> FloatArray | float:
        """Posterior quantile(s) of tau (inverse of :meth:`tau_cdf`)."""
        probs, scalar = _as_probs(q)
        if np.any((probs <= 0) | (probs >= 1)):
            raise ValueError("quantile probabilities must lie strictly between 0 and 1")
        out = np.empty_like(probs)
        cum_hi = np.append(self._panel_cum[1:], 1.0)
        for n, p in enumerate(probs):
            i = int(np.clip(np.searchsorted(cum_hi, p, side="left"), 0, self._panel_lo.size - 1))
            a, b = self._panel_lo[i], self._panel_hi[i]
            fa, fb = self._tau_cdf_u(a) - p, self._tau_cdf_u(b) - p
            if fa >= 0:
                out[n] = math.exp(a)
            elif fb <= 0:
                out[n] = math.exp(b)
            else:
                u = optimize.brentq(lambda v, p=p: self._tau_cdf_u(v) - p, a, b, xtol=1e-13, rtol=1e-14)
                out[n] = math.exp(u)
        return float(out[0]) if scalar else out

    @property
    def tau_mean(self) -> float:
        """Posterior mean of tau (``inf`` if it does not exist)."""
        if not self.tau_mean_finite:
            return math.inf
        return float(self.weights @ self.tau)

    @property
    def tau_sd(self) -> float:
        """Posterior standard deviation of tau (``inf`` if it does not exist)."""
        if not self.tau_var_finite:
            return math.inf
        return float(math.sqrt(max(self.weights @ self.tau**2 - self.tau_mean**2, 0.0)))

    # ---------------------------------------------------------------- mu --------------
    def _mu_components(self) -> tuple[FloatArray, FloatArray]:
        return self.cond_mean, np.sqrt(self.cond_var)

    def mu_pdf(self, x: ArrayLike) -> FloatArray:
        """Marginal posterior density of mu (normal mixture over the tau nodes)."""
        m, sd = self._mu_components()
        return _mixture_pdf(np.asarray(x, dtype=float), m, sd, self.weights)

    def mu_cdf(self, x: ArrayLike) -> FloatArray:
        """Marginal posterior CDF of mu."""
        m, sd = self._mu_components()
        return _mixture_cdf(np.asarray(x, dtype=float), m, sd, self.weights)

    def mu_quantile(self, q: ArrayLike) -> FloatArray | float:
        """Posterior quantile(s) of mu."""
        probs, scalar = _as_probs(q)
        m, sd = self._mu_components()
        out = _mixture_quantile(probs[None, :], m[None, :], sd[None, :], self.weights)[0]
        return float(out[0]) if scalar else out

    @property
    def mu_mean(self) -> float:
        """Posterior mean of mu."""
        return float(self.weights @ self.cond_mean)

    @property
    def mu_sd(self) -> float:
        """Posterior standard deviation of mu (law of total variance over tau).

        With a flat prior on mu, ``Var(mu | tau, y)`` grows like ``tau^2 / k``, so the sd is
        infinite exactly when ``E[tau^2 | y]`` is.
        """
        if self.mu_prior is None and not self.tau_var_finite:
            return math.inf
        second = self.weights @ (self.cond_var + self.cond_mean**2)
        return float(math.sqrt(max(second - self.mu_mean**2, 0.0)))

    def prob_mu_greater(self, c: float = 0.0) -> float:
        """Posterior probability ``P(mu > c | y)``."""
        m, sd = self._mu_components()
        return float(_mixture_sf(np.asarray(c, dtype=float), m, sd, self.weights))

    # ---------------------------------------------------------- theta_new -------------
    def _pred_components(self) -> tuple[FloatArray, FloatArray]:
        return self.cond_mean, np.sqrt(self.cond_var + self.tau**2)

    def theta_new_pdf(self, x: ArrayLike) -> FloatArray:
        """Posterior predictive density of a new study's true effect ``mu + tau * eps``."""
        m, sd = self._pred_components()
        return _mixture_pdf(np.asarray(x, dtype=float), m, sd, self.weights)

    def theta_new_cdf(self, x: ArrayLike) -> FloatArray:
        """Posterior predictive CDF of ``theta_new``."""
        m, sd = self._pred_components()
        return _mixture_cdf(np.asarray(x, dtype=float), m, sd, self.weights)

    def theta_new_quantile(self, q: ArrayLike) -> FloatArray | float:
        """Posterior predictive quantile(s) of ``theta_new``."""
        probs, scalar = _as_probs(q)
        m, sd = self._pred_components()
        out = _mixture_quantile(probs[None, :], m[None, :], sd[None, :], self.weights)[0]
        return float(out[0]) if scalar else out

    @property
    def theta_new_mean(self) -> float:
        """Predictive mean (equals the posterior mean of mu)."""
        return self.mu_mean

    @property
    def theta_new_sd(self) -> float:
        """Predictive standard deviation: ``sqrt(Var(mu | y) + E[tau^2 | y])``."""
        if not self.tau_var_finite:
            return math.inf
        return float(math.sqrt(self.mu_sd**2 + self.weights @ self.tau**2))

    def prob_theta_new_greater(self, c: float = 0.0) -> float:
        """Posterior predictive probability ``P(theta_new > c | y)``."""
        m, sd = self._pred_components()
        return float(_mixture_sf(np.asarray(c, dtype=float), m, sd, self.weights))

    # ------------------------------------------------------------- theta_i -------------
    def _theta_components(self) -> tuple[FloatArray, FloatArray]:
        """Means and sds, shape (k, n_nodes), of ``theta_i | tau_j, y``.

        Given tau and mu, ``theta_i ~ N((1-B) y_i + B mu, s_i^2 (1-B))`` with pooling factor
        ``B = s_i^2 / (s_i^2 + tau^2)``; integrating mu against ``N(m, V)`` adds ``B^2 V``.
        """
        s2 = self.s[:, None] ** 2
        b = s2 / (s2 + self.tau[None, :] ** 2)
        mean = (1.0 - b) * self.y[:, None] + b * self.cond_mean[None, :]
        var = s2 * (1.0 - b) + b**2 * self.cond_var[None, :]
        return mean, np.sqrt(var)

    @property
    def theta_mean(self) -> FloatArray:
        """Posterior means of the study-specific (shrunken) effects."""
        m, _ = self._theta_components()
        return m @ self.weights

    @property
    def theta_sd(self) -> FloatArray:
        """Posterior standard deviations of the study-specific effects."""
        m, sd = self._theta_components()
        second = (sd**2 + m**2) @ self.weights
        return np.sqrt(np.maximum(second - (m @ self.weights) ** 2, 0.0))

    def theta_quantile(self, q: ArrayLike) -> FloatArray:
        """Quantiles of each ``theta_i | y``; shape ``(k,)`` for scalar q else ``(k, len(q))``."""
        probs, scalar = _as_probs(q)
        m, sd = self._theta_components()
        out = _mixture_quantile(np.tile(probs, (self.k, 1)), m, sd, self.weights)
        return out[:, 0] if scalar else out

    def theta_cdf(self, x: ArrayLike) -> FloatArray:
        """``P(theta_i <= x | y)`` for each study (x broadcast against the k studies)."""
        m, sd = self._theta_components()
        return _mixture_cdf(np.broadcast_to(np.asarray(x, dtype=float), (self.k,)), m, sd, self.weights)

    # ---------------------------------------------------------- derived ---------------
    @property
    def pooling_mean(self) -> FloatArray:
        """Posterior mean pooling (shrinkage) factor ``s_i^2 / (s_i^2 + tau^2)`` per study."""
        s2 = self.s[:, None] ** 2
        return (s2 / (s2 + self.tau[None, :] ** 2)) @ self.weights

    @property
    def i2_mean(self) -> float:
        """Posterior mean of ``I^2 = tau^2 / (tau^2 + s2_typical)``."""
        t2 = self.tau**2
        return float(self.weights @ (t2 / (t2 + self.s2_typical)))

    def i2_quantile(self, q: ArrayLike) -> FloatArray | float:
        """Posterior quantiles of I^2 (a monotone transform of tau, so of its quantiles)."""
        t = np.asarray(self.tau_quantile(q), dtype=float)
        out = t**2 / (t**2 + self.s2_typical)
        return float(out) if out.ndim == 0 else out

    # ---------------------------------------------------------- summary ---------------
    def summary(self, ci_prob: float = 0.9) -> pd.DataFrame:
        """Table of posterior mean, sd, equal-tailed interval and ``P(. > 0)``.

        Rows ``mu``, ``tau``, ``theta_new`` and ``theta[i]`` (i = 0..k-1); columns ``mean``,
        ``sd``, ``eti_low``, ``eti_high``, ``prob_gt_0``.
        """
        if not 0.0 < ci_prob < 1.0:
            raise ValueError(f"ci_prob must be in (0, 1), got {ci_prob}")
        lo_p, hi_p = 0.5 * (1.0 - ci_prob), 0.5 * (1.0 + ci_prob)
        probs = np.array([lo_p, hi_p])
        # all normal-mixture quantiles in one vectorised solve
        m_mu, sd_mu = self._mu_components()
        m_pr, sd_pr = self._pred_components()
        m_th, sd_th = self._theta_components()
        means = np.vstack([m_mu, m_pr, m_th])
        sds = np.vstack([sd_mu, sd_pr, sd_th])
        qs = _mixture_quantile(np.tile(probs, (means.shape[0], 1)), means, sds, self.weights)
        gt0 = _mixture_sf(np.zeros(means.shape[0]), means, sds, self.weights)
        tau_q = np.asarray(self.tau_quantile(probs))
        rows = {
            "mu": (self.mu_mean, self.mu_sd, qs[0, 0], qs[0, 1], gt0[0]),
            "tau": (self.tau_mean, self.tau_sd, tau_q[0], tau_q[1], 1.0),
            "theta_new": (self.theta_new_mean, self.theta_new_sd, qs[1, 0], qs[1, 1], gt0[1]),
        }
        th_mean, th_sd = self.theta_mean, self.theta_sd
        for i in range(self.k):
            rows[f"theta[{i}]"] = (th_mean[i], th_sd[i], qs[2 + i, 0], qs[2 + i, 1], gt0[2 + i])
        return pd.DataFrame.from_dict(
            rows, orient="index", columns=["mean", "sd", "eti_low", "eti_high", "prob_gt_0"]
        )

    # ---------------------------------------------------------- sampling --------------
    def sample(self, n: int, rng: np.random.Generator | int | None = None) -> dict[str, FloatArray]:
        """Independent posterior draws, for comparison with MCMC output.

        tau is drawn by inverting its CDF (tabulated exactly at 32 points per panel and
        interpolated monotonically on the log scale), then ``mu | tau, y`` and
        ``theta_i | mu, tau, y`` are drawn from their Gaussian conditionals and
        ``theta_new = mu + tau * eps``.

        Returns a dict with ``mu``, ``tau``, ``theta_new`` (shape ``(n,)``) and ``theta``
        (shape ``(n, k)``).
        """
        gen = np.random.default_rng(rng)
        u_tab, cdf_tab = self._tau_cdf_table()
        p = gen.uniform(size=n)
        tau = np.exp(np.interp(p, cdf_tab, u_tab))
        cond = self._cond_at(tau)
        mu = cond.mean + np.sqrt(cond.var) * gen.standard_normal(n)
        theta_new = mu + tau * gen.standard_normal(n)
        s2 = self.s[None, :] ** 2
        t2 = tau[:, None] ** 2
        b = s2 / (s2 + t2)
        th_mean = (1.0 - b) * self.y[None, :] + b * mu[:, None]
        th_sd = np.sqrt(s2 * (1.0 - b))
        theta = th_mean + th_sd * gen.standard_normal((n, self.k))
        return {"mu": mu, "tau": tau, "theta_new": theta_new, "theta": theta}

    def _cond_at(self, tau: FloatArray) -> _Conditional:
        var_mu = None if self.mu_prior is None else self.mu_prior[1] ** 2
        mu0 = 0.0 if self.mu_prior is None else self.mu_prior[0]
        return _conditional(tau, self.y, self.s**2, mu0, var_mu)

    def _tau_cdf_table(self, per_panel: int = 32) -> tuple[FloatArray, FloatArray]:
        """Exact CDF of tau at ``per_panel`` equispaced log-tau points in every panel."""
        frac = np.linspace(0.0, 1.0, per_panel + 1)[1:]
        width = self._panel_hi - self._panel_lo
        ends = self._panel_lo[:, None] + width[:, None] * frac[None, :]  # (P, M)
        half = 0.5 * (ends - self._panel_lo[:, None])
        nodes = self._panel_lo[:, None, None] + half[:, :, None] * (_GL_X + 1.0)  # (P, M, G)
        dens = np.exp(self._log_post(np.exp(nodes.ravel())) + nodes.ravel() - self._log_norm)
        part = half * (dens.reshape(nodes.shape) * _GL_W).sum(axis=-1)
        cdf = self._panel_cum[:, None] + part
        u = np.concatenate([[self._panel_lo[0]], ends.ravel()])
        c = np.concatenate([[0.0], np.minimum(cdf.ravel(), 1.0)])
        c = np.maximum.accumulate(c)
        c /= c[-1]
        return u, c


# --------------------------------------------------------------------------------------
# construction
# --------------------------------------------------------------------------------------


def _typical_variance(s2: FloatArray) -> float:
    """Higgins & Thompson (2002) typical within-study variance, as used for I^2."""
    w = 1.0 / s2
    k = s2.size
    if k < 2:
        return float(s2[0])
    return float((k - 1) * w.sum() / (w.sum() ** 2 - (w**2).sum()))


def _gl_panels(lo: FloatArray, hi: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Gauss-Legendre nodes (P, G) and weights (P, G) on panels ``[lo, hi]``."""
    half = 0.5 * (hi - lo)
    mid = 0.5 * (hi + lo)
    return mid[:, None] + half[:, None] * _GL_X, half[:, None] * _GL_W


def exact_normal_normal(
    y: ArrayLike,
    s: ArrayLike,
    *,
    mu_prior: tuple[float, float] | Sequence[float] | None = (0.0, 1.0),
    tau_prior: TauPrior = ("halfnormal", 0.5),
    grid_size: int = 8,
    rtol: float = 1e-11,
) -> ExactPosterior:
    """Exact posterior of the normal-normal random-effects model by 1-D quadrature.

    Parameters
    ----------
    y, s
        Study estimates and their known standard errors (1-D, same length, ``s > 0``).
    mu_prior
        ``(mu0, sd_mu)`` for ``mu ~ N(mu0, sd_mu^2)``, or ``None`` for a flat (improper) prior.
    tau_prior
        ``("halfnormal", sd)``, ``("halfcauchy", scale)``, ``("halft", nu, scale)``,
        ``("uniform", upper)`` (``upper=math.inf``: improper flat prior on tau), or a callable
        returning the log-density of an array of ``tau > 0``.
    grid_size
        Number of initial equal-width panels (10 Gauss-Legendre nodes each) covering the
        ``log(tau)`` range that holds the posterior mass; panels are then bisected adaptively.
    rtol
        Per-panel tolerance (relative to the total posterior mass) of the adaptive bisection.

    Returns
    -------
    ExactPosterior

    Raises
    ------
    ValueError
        On malformed input, or if the posterior of tau is improper / too heavy-tailed to be
        integrated (e.g. flat priors on both mu and tau with fewer than three studies).
    """
    y_arr = np.asarray(y, dtype=float).ravel()
    s_arr = np.asarray(s, dtype=float).ravel()
    if y_arr.size == 0 or y_arr.size != s_arr.size:
        raise ValueError(f"y and s must be non-empty and of equal length ({y_arr.size} vs {s_arr.size})")
    if not (np.all(np.isfinite(y_arr)) and np.all(np.isfinite(s_arr)) and np.all(s_arr > 0)):
        raise ValueError("y must be finite and s finite and strictly positive")
    if grid_size < 1:
        raise ValueError("grid_size must be >= 1")
    if mu_prior is None:
        mu0, var_mu, mu_spec = 0.0, None, None
    else:
        mu0, sd_mu = (float(v) for v in mu_prior)
        if not (sd_mu > 0 and math.isfinite(sd_mu) and math.isfinite(mu0)):
            raise ValueError(f"mu_prior sd must be finite and > 0, got {mu_prior!r}")
        var_mu, mu_spec = sd_mu**2, (mu0, sd_mu)
    log_prior, upper, prior_scale, tau_proper = tau_log_prior(tau_prior)
    s2 = s_arr**2

    def log_post(t: FloatArray) -> FloatArray:
        t = np.asarray(t, dtype=float)
        return log_prior(t) + _conditional(t, y_arr, s2, mu0, var_mu).loglik

    def g(u: FloatArray) -> FloatArray:
        """Integrand on the log(tau) scale: log(tau * p(tau, y))."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            val = log_post(np.exp(u)) + u
        return np.where(np.isnan(val), -np.inf, val)

    # ---- 1. locate the mass on a coarse log(tau) grid --------------------------------
    scales = [float(s_arr.min()), float(s_arr.max())]
    if y_arr.size > 1 and np.ptp(y_arr) > 0:
        scales.append(float(np.ptp(y_arr)))
    if prior_scale is not None:
        scales.append(prior_scale)
    u_min = math.log(min(scales)) - 60.0
    u_max = math.log(upper) if math.isfinite(upper) else math.log(max(scales)) + 300.0
    u_max = min(u_max, 340.0)  # tau^2 stays finite in double precision
    if u_min >= u_max:
        u_min = u_max - 60.0
    coarse = np.linspace(u_min, u_max, max(int((u_max - u_min) / _COARSE_STEP), 8) + 1)
    gc = g(coarse)
    if not np.any(np.isfinite(gc)):
        raise ValueError("the posterior of tau is zero everywhere; check the prior and data")
    j_star = int(np.argmax(gc))
    # refine the mode so that a narrow peak between coarse points is not missed
    a_lo = coarse[max(j_star - 1, 0)]
    a_hi = coarse[min(j_star + 1, coarse.size - 1)]
    res = optimize.minimize_scalar(lambda v: -float(g(np.array([v]))[0]), bounds=(a_lo, a_hi),
                                   method="bounded", options={"xatol": 1e-9})
    u_star = float(res.x) if -res.fun >= gc[j_star] else float(coarse[j_star])
    g_max = float(max(-res.fun, gc[j_star]))
    if not math.isfinite(g_max):
        raise ValueError("the posterior of tau is not finite; the prior may be improper at 0")
    keep = gc > g_max - _LOG_CUTOFF
    first = int(np.argmax(keep))
    # right end: also make tau^2 * p(tau) negligible so the mean and sd of tau are accurate
    hard_end = math.isfinite(upper)
    excess = np.maximum(coarse - u_star, 0.0)
    # does tau^m * p(tau | y) still matter at the end of the coarse grid (m = 1, 2)?
    mean_finite = hard_end or gc[-1] + excess[-1] <= g_max - _LOG_CUTOFF
    var_finite = hard_end or gc[-1] + 2.0 * excess[-1] <= g_max - _LOG_CUTOFF
    keep_mom = gc + 2.0 * excess > g_max - _LOG_CUTOFF
    last = coarse.size - 1 - int(np.argmax(keep_mom[::-1]))
    if last == coarse.size - 1 and not hard_end:
        last = coarse.size - 1 - int(np.argmax(keep[::-1]))
        if last == coarse.size - 1:
            raise ValueError(
                "the marginal posterior of tau is improper or too heavy-tailed to integrate "
                "(e.g. flat priors on mu and tau with k < 3 studies)"
            )
    if first == 0 and gc[0] > g_max - _LOG_CUTOFF:
        raise ValueError("the posterior of tau does not vanish as tau -> 0 (improper prior?)")
    lo_u = float(coarse[max(first - 1, 0)])
    hi_u = float(coarse[min(last + 1, coarse.size - 1)])

    # ---- 2. initial panels: uniform over the range plus fine ones around the mode -----
    h = 1e-3
    gm = g(np.array([u_star - h, u_star, u_star + h]))
    curv = (gm[0] - 2 * gm[1] + gm[2]) / h**2
    sigma = 1.0 / math.sqrt(-curv) if (math.isfinite(curv) and curv < 0) else 1.0
    sigma = min(sigma, 1.0)
    breaks = np.linspace(lo_u, hi_u, grid_size + 1)
    fine = np.linspace(u_star - 6 * sigma, u_star + 6 * sigma, _N_FINE + 1)
    breaks = np.unique(np.concatenate([breaks, fine[(fine > lo_u) & (fine < hi_u)]]))
    lo, hi = breaks[:-1], breaks[1:]

    # ---- 3. adaptive bisection until each panel agrees with its halves ---------------
    acc_lo: list[FloatArray] = []
    acc_hi: list[FloatArray] = []
    total_est = None
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        x_full, w_full = _gl_panels(lo, hi)
        x_h, w_h = _gl_panels(np.concatenate([lo, mid]), np.concatenate([mid, hi]))
        f_full = np.exp(g(x_full.ravel()) - g_max).reshape(x_full.shape)
        f_h = np.exp(g(x_h.ravel()) - g_max).reshape(x_h.shape)
        i_full = (f_full * w_full).sum(axis=1)
        i_h_each = (f_h * w_h).sum(axis=1)
        n = lo.size
        i_half = i_h_each[:n] + i_h_each[n:]
        if total_est is None:
            total_est = float(i_half.sum())
        bad = np.abs(i_full - i_half) > rtol * total_est
        acc_lo.append(lo[~bad])
        acc_hi.append(hi[~bad])
        if not np.any(bad):
            break
        lo = np.concatenate([lo[bad], mid[bad]])
        hi = np.concatenate([mid[bad], hi[bad]])
    else:  # pragma: no cover - only for pathological callables
        acc_lo.append(lo)
        acc_hi.append(hi)
    p_lo = np.concatenate(acc_lo)
    p_hi = np.concatenate(acc_hi)
    order = np.argsort(p_lo)
    p_lo, p_hi = p_lo[order], p_hi[order]

    # ---- 4. final nodes and weights ------------------------------------------------
    x_fin, w_fin = _gl_panels(p_lo, p_hi)
    f_fin = np.exp(g(x_fin.ravel()) - g_max).reshape(x_fin.shape) * w_fin
    panel_mass = f_fin.sum(axis=1)
    total = float(panel_mass.sum())
    if not (total > 0 and math.isfinite(total)):
        raise ValueError("failed to integrate the posterior of tau")
    log_norm = g_max + math.log(total)
    weights = (f_fin / total).ravel()
    tau_nodes = np.exp(x_fin.ravel())
    # drop nodes that cannot affect any reported digit (also for the second moment of tau)
    second = float(weights @ tau_nodes**2)
    nz = weights * (1.0 + tau_nodes**2 / second) > 1e-18 if second > 0 else weights > 1e-18
    tau_nodes, weights = tau_nodes[nz], weights[nz] / weights[nz].sum()
    cond = _conditional(tau_nodes, y_arr, s2, mu0, var_mu)
    panel_cum = np.concatenate([[0.0], np.cumsum(panel_mass / total)[:-1]])

    return ExactPosterior(
        y=y_arr,
        s=s_arr,
        mu_prior=mu_spec,
        tau_prior=tau_prior,
        tau=tau_nodes,
        weights=weights,
        cond_mean=cond.mean,
        cond_var=cond.var,
        log_marginal_likelihood=log_norm,
        prior_is_proper=tau_proper and mu_spec is not None,
        s2_typical=_typical_variance(s2),
        tau_mean_finite=bool(mean_finite),
        tau_var_finite=bool(var_finite),
        _panel_lo=p_lo,
        _panel_hi=p_hi,
        _panel_cum=panel_cum,
        _log_post=log_post,
        _log_norm=log_norm,
    )
