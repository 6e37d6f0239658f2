"""Prior sensitivity by power-scaling, computed by importance reweighting of the draws.

Every stored fit has ``log_prior`` and ``log_likelihood`` groups, so ``arviz_stats.psense``
runs on it (it scales all priors at once); this table scales the two priors that matter most
one at a time, on the reported scale: the pooled component effects ``mu ~ Normal(0, mu_sd)``
and the heterogeneity ``tau ~ HalfNormal(tau_sd)`` (the scale prior of the LKJ covariance).
Power-scaling a prior by ``alpha`` (``p(theta)^alpha``) is, for these two families, the same
as dividing its sd by ``sqrt(alpha)``; the posterior under the scaled prior is approximated
by weighting each draw with ``p(theta)^(alpha - 1)`` (no Pareto smoothing; the weights'
effective sample size is reported, and points with ESS < 10% of the draws are hollow).

If the pooled effect barely moves as each prior is made twice as tight (alpha = 2) or twice
as wide in variance (alpha = 0.5), the conclusion is driven by the data; if it moves a lot,
the prior matters and the report says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._draws import draws, weighted_quantile

ALPHAS: tuple[float, ...] = (0.5, 0.8, 1.0, 1.25, 2.0)
ESS_WARN = 0.10


def sensitivity_table(result: Any, *, alphas: tuple[float, ...] = ALPHAS,
                      ci_prob: float | None = None) -> pd.DataFrame:
    """Pooled arm effects under power-scaled priors of mu and of tau (display scale).

    Columns: ``prior`` (``mu`` | ``tau``), ``alpha, prior_sd, arm, mean, ci_low, ci_high,
    ess, ess_frac``.
    """
    cols = ["prior", "alpha", "prior_sd", "arm", "mean", "ci_low", "ci_high", "ess", "ess_frac"]
    tree = result.tree
    pri = result.spec.priors(result.kind)
    mu = draws(tree, "posterior", "mu")
    tau = draws(tree, "posterior", "tau")
    mu_arm = draws(tree, "posterior", "mu_arm")
    if mu_arm is None or mu is None:
        return pd.DataFrame(columns=cols)
    f = result.display_factor
    # log prior density up to constants; summed over components
    logp = {"mu": -0.5 * np.sum((mu / pri.mu_sd) ** 2, axis=0)}
    sds = {"mu": pri.mu_sd}
    if tau is not None:
        logp["tau"] = -0.5 * np.sum((tau / pri.tau_sd) ** 2, axis=0)
        sds["tau"] = pri.tau_sd
    n = mu_arm.shape[-1]
    ci_prob = ci_prob or float(getattr(result, "ci_prob", 0.9))
    lo, hi = (1 - ci_prob) / 2, 1 - (1 - ci_prob) / 2
    out = []
    for name, lp in logp.items():
        for a in alphas:
            lw = (a - 1.0) * lp
            w = np.exp(lw - lw.max())
            w /= w.sum()
            ess = float(1.0 / np.sum(w**2))
            for i, arm in enumerate(result.data.arms):
                x = mu_arm[i] * f
                q = weighted_quantile(x, w, [lo, hi])
                out.append({"prior": name, "alpha": a, "prior_sd": sds[name] / np.sqrt(a) * f,
                            "arm": arm, "mean": float(np.sum(w * x)), "ci_low": q[0],
                            "ci_high": q[1], "ess": ess, "ess_frac": ess / n})
    return pd.DataFrame(out, columns=cols)


PSENSE_THRESHOLD = 0.05
"""A power-scaling sensitivity (CJS distance gradient) above this flags a quantity
(the threshold of ``priorsense`` and ArviZ)."""

PSENSE_VARS = ("mu_arm", "tau_arm", "theta_new")

PSENSE_PRIORS = ("mu_raw", "tau_raw", "corr_cpc_raw", "gamma_raw")
"""The top-level priors that are power-scaled (pooled effects, heterogeneity, correlation,
interactions); the non-centred municipality offsets and the measurement-level latents
(SEs, R2, spill-over, bias) are left as they are, as priorsense recommends."""


def psense_table(result: Any, *, var_names: tuple[str, ...] = PSENSE_VARS) -> pd.DataFrame:
    """Sensitivity of the pooled quantities to power-scaling the prior and the likelihood.

    ``arviz_stats.psense`` on the fit's ``log_prior`` (the top-level priors of
    :data:`PSENSE_PRIORS`, scaled together) and ``log_likelihood`` (all municipalities scaled
    together) groups. Columns: ``parameter, arm,
    prior, likelihood, diagnosis``; ``diagnosis`` follows priorsense: both above
    :data:`PSENSE_THRESHOLD` is a prior-data conflict, the prior alone a strong prior or
    weak likelihood.
    """
    from arviz_stats import psense

    cols = ["parameter", "arm", "prior", "likelihood", "diagnosis"]
    tree = result.tree
    post = tree["posterior"].to_dataset()
    names = [v for v in var_names if v in post.data_vars]
    if not names:
        return pd.DataFrame(columns=cols)
    priors = [v for v in PSENSE_PRIORS if v in tree["log_prior"].to_dataset().data_vars]
    sens = {"prior": psense(tree, var_names=names, group="prior", group_var_names=priors),
            "likelihood": psense(tree, var_names=names, group="likelihood")}
    out = []
    for v in names:
        for arm in post[v].coords["arm"].values:
            p = float(sens["prior"][v].sel(arm=arm))
            lik = float(sens["likelihood"][v].sel(arm=arm))
            diag = ("prior-data conflict" if p >= PSENSE_THRESHOLD and lik >= PSENSE_THRESHOLD
                    else "strong prior / weak likelihood" if p >= PSENSE_THRESHOLD else "-")
            out.append({"parameter": v, "arm": str(arm), "prior": p, "likelihood": lik,
                        "diagnosis": diag})
    return pd.DataFrame(out, columns=cols)
