"""Leave-one-municipality-out influence: would the pooled effect change without one of them?

Refitting the model once per municipality is too expensive for every run, so two cheap,
clearly labelled approximations are drawn side by side:

* **Bayesian, importance-weighted (approximate).** The posterior draws of the pooled
  parameters are reweighted by ``1 / p(data of municipality g | mu, Sigma)``, the
  case-deletion identity with g's own effects integrated out (much better behaved than
  weighting by ``1 / p(data_g | theta_g)``, which collapses to a handful of draws when a
  municipality is precise). g's data are summarised by its rows on the per-participant
  scale (``per_participant`` with the SE behind its derived interval), which ignores the
  correlation between arms sharing a control group, bias terms and prose rows.
  No Pareto smoothing is applied; the effective sample size of the weights is shown and a
  hollow marker warns when fewer than 10% of the draws carry the result (then only an
  actual refit can be trusted).
* **Frequentist leave-one-out (exact for that model).** REML + Knapp-Hartung random-effects
  fits of the twin inputs (:func:`bayes_bijstand.frequentist.twin.twin_inputs`), each
  omitting one municipality's row, via :func:`bayes_bijstand.frequentist.meta.leave1out`.
  Only rows with a printed or design-based SE enter, so municipalities known only from a
  significance marker or prose are absent there.

A weight ESS below 10% of the draws is itself a finding: the posterior without that
municipality is far from the posterior with it, i.e. the municipality is influential.

A municipality whose removal moves the pooled effect a lot relative to its interval is one
the conclusion depends on; read its source before relying on the pooled effect.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ._draws import draws, weighted_quantile

ESS_WARN = 0.10


def _sigma_draws(tree: Any, n_comp: int) -> np.ndarray | None:
    """Between-municipality covariance of the components per draw, shape (draws, C, C)."""
    tau = draws(tree, "posterior", "tau")
    if tau is None:
        return None
    corr = draws(tree, "posterior", "corr")
    t = tau.T  # (S, C)
    if corr is None or corr.ndim != 3:
        return np.einsum("si,ij->sij", t**2, np.eye(n_comp))
    c = np.moveaxis(corr, -1, 0)  # (S, C, C)
    return t[:, :, None] * c * t[:, None, :]


def bayes_loo_table(result: Any, *, ci_prob: float | None = None) -> pd.DataFrame:
    """Importance-weighted leave-one-municipality-out summaries of ``mu_arm`` (display scale).

    The weights delete municipality g at the level of the pooled parameters, with g's own
    effects integrated out: ``w_s = 1 / N(published_g | mu_arm_s, W Sigma_s W' + diag(se^2))``
    over g's arms with a published number (``Sigma_s`` the between-municipality covariance of
    the components in draw s). This is the case-deletion identity for the hyperparameters,
    approximate only in how g's likelihood is summarised (independent published estimates,
    no bias or spill-over terms, no prose rows).

    Columns: ``arm, omitted, mean, ci_low, ci_high, ess, ess_frac, reliable``.
    """
    cols = ["arm", "omitted", "mean", "ci_low", "ci_high", "ess", "ess_frac", "reliable"]
    tree = result.tree
    f = result.display_factor
    mu_arm = draws(tree, "posterior", "mu_arm")
    W = np.asarray(result.data.W, dtype=float)
    sigma = _sigma_draws(tree, W.shape[1])
    if mu_arm is None or sigma is None:
        return pd.DataFrame(columns=cols)
    ci_prob = ci_prob or float(getattr(result, "ci_prob", 0.9))
    gem = result.gemeenten(ci_prob=ci_prob)
    z = float(stats.norm.isf((1 - ci_prob) / 2))
    arms = list(result.data.arms)
    n = mu_arm.shape[-1]
    a_lo, a_hi = (1 - ci_prob) / 2, 1 - (1 - ci_prob) / 2
    out = []
    for g in result.data.gemeenten:
        sub = gem[(gem["gemeente"] == g) & np.isfinite(gem["per_participant"])]
        sub = sub[(sub["per_participant_high"] - sub["per_participant_low"]) > 0]
        if sub.empty:
            continue
        idx = [arms.index(a) for a in sub["arm"]]
        y = sub["per_participant"].to_numpy(float)
        se = ((sub["per_participant_high"] - sub["per_participant_low"]) / (2 * z)).to_numpy(float)
        Wg = W[idx]
        cov = np.einsum("ac,scd,bd->sab", Wg, sigma, Wg) + np.diag(se**2)[None]
        resid = (y[None, :] - mu_arm[idx].T)  # (S, k)
        chol = np.linalg.cholesky(cov)
        sol = np.linalg.solve(chol, resid[..., None])[..., 0]
        loglik = -0.5 * np.sum(sol**2, axis=1) - np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)
        logw = -loglik
        w = np.exp(logw - logw.max())
        w /= w.sum()
        ess = float(1.0 / np.sum(w**2))
        for i, a in enumerate(arms):
            x = mu_arm[i] * f
            q = weighted_quantile(x, w, [a_lo, a_hi])
            out.append({"arm": a, "omitted": g, "mean": float(np.sum(w * x)), "ci_low": q[0],
                        "ci_high": q[1], "ess": ess, "ess_frac": ess / n,
                        "reliable": ess / n >= ESS_WARN})
    return pd.DataFrame(out, columns=cols)


def freq_loo_table(result: Any, *, ci_prob: float | None = None) -> pd.DataFrame:
    """Frequentist (REML + Knapp-Hartung) leave-one-out of each arm's pooled effect.

    Columns: ``arm, omitted, mean, ci_low, ci_high, k`` (display scale); with two rows
    the remaining single row is shown with its own z-interval.
    """
    from ..frequentist._common import MetaAnalysisError
    from ..frequentist.meta import leave1out, rma
    from ..frequentist.twin import twin_inputs

    ci_prob = ci_prob or float(getattr(result, "ci_prob", 0.9))
    f = result.display_factor
    data = twin_inputs(result.data.rows)
    z = float(stats.norm.isf((1 - ci_prob) / 2))
    out = []
    for a in result.data.arms:
        sub = data[data["arm"] == a].reset_index(drop=True)
        if len(sub) < 2:
            continue
        if len(sub) == 2:
            for i in range(2):
                other = sub.iloc[1 - i]
                se = float(np.sqrt(other["vi"]))
                out.append({"arm": a, "omitted": sub.loc[i, "gemeente"], "mean": other["yi"] * f,
                            "ci_low": (other["yi"] - z * se) * f,
                            "ci_high": (other["yi"] + z * se) * f, "k": 1})
            continue
        try:
            res = rma(sub["yi"].to_numpy(float), sub["vi"].to_numpy(float), method="REML",
                      test="knha", level=ci_prob)
            loo = leave1out(res)
        except (MetaAnalysisError, ValueError, np.linalg.LinAlgError):
            continue
        for _, r in loo.iterrows():
            out.append({"arm": a, "omitted": sub.loc[int(r["omitted"]), "gemeente"],
                        "mean": r["estimate"] * f, "ci_low": r["ci_low"] * f,
                        "ci_high": r["ci_high"] * f, "k": len(sub) - 1})
    return pd.DataFrame(out, columns=["arm", "omitted", "mean", "ci_low", "ci_high", "k"])
