"""Prior sensitivity by power-scaling, computed by importance reweighting of the draws.

``arviz.psense_summary`` / ``plot_psense_dist`` need ``log_prior`` and ``log_likelihood``
groups that these fits do not store, so the same idea is implemented directly for the two
priors that matter most: the pooled component effects ``mu ~ Normal(0, mu_sd)`` and the
heterogeneity ``tau ~ HalfNormal(tau_sd)`` (the scale prior of the LKJ covariance).
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
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ._style import (
    COLORS,
    arm_name,
    draws,
    effect_label,
    new_figure,
    no_data,
    set_title,
    style,
    weighted_quantile,
)

ALPHAS: tuple[float, ...] = (0.5, 0.8, 1.0, 1.25, 2.0)
ESS_WARN = 0.10


def sensitivity_table(result: Any, *, alphas: tuple[float, ...] = ALPHAS,
                      ci_prob: float = 0.9) -> pd.DataFrame:
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


def plot_sensitivity(*, result: Any, alphas: tuple[float, ...] = ALPHAS) -> Figure:
    """Pooled effect per arm (columns: which prior is scaled) as the prior is power-scaled."""
    t = sensitivity_table(result, alphas=alphas)
    arms = list(dict.fromkeys(t["arm"])) if len(t) else []
    priors = list(dict.fromkeys(t["prior"])) if len(t) else []
    with style():
        fig = new_figure(4.4 * max(len(priors), 1) + 1.5, 2.0 + 1.45 * max(len(arms), 1))
        if not arms:
            return no_data(fig, "No pooled effect: prior sensitivity not applicable.")
        axes = fig.subplots(len(arms), len(priors), squeeze=False, sharex="col")
        for j, pname in enumerate(priors):
            for i, arm in enumerate(arms):
                ax = axes[i, j]
                sub = t[(t["prior"] == pname) & (t["arm"] == arm)].reset_index(drop=True)
                ys = np.arange(len(sub))[::-1].astype(float)
                for y, (_, r) in zip(ys, sub.iterrows(), strict=True):
                    base = np.isclose(r["alpha"], 1.0)
                    ok = r["ess_frac"] >= ESS_WARN
                    color = COLORS["pooled"] if base else COLORS["posterior"]
                    ax.plot([r["ci_low"], r["ci_high"]], [y, y], color=color, lw=2,
                            alpha=1.0 if ok else 0.45)
                    ax.plot(r["mean"], y, "D" if base else "o", ms=6, mec=color,
                            mfc=color if ok else "white")
                ax.axvline(0, color="black", lw=0.7)
                ax.set_yticks(ys, [f"a={r['alpha']:g} (sd {r['prior_sd']:.3g})"
                                   for _, r in sub.iterrows()], fontsize=7.5)
                ax.grid(axis="y", visible=False)
                header = {"mu": "Scaling the prior of the pooled effects (mu)",
                          "tau": "Scaling the prior of the heterogeneity (tau)"}[pname]
                ax.set_title((header + "\n" if i == 0 else "") + f"Arm: {arm_name(arm)}",
                             loc="left", fontsize=8.5)
            axes[-1, j].set_xlabel(effect_label(result, "Pooled effect"))
        handles = [Line2D([], [], color=COLORS["pooled"], marker="D", lw=2, label="Prior as specified"),
                   Line2D([], [], color=COLORS["posterior"], marker="o", lw=2,
                          label="Power-scaled prior (a<1 wider, a>1 tighter; 90% interval)"),
                   Line2D([], [], color=COLORS["posterior"], marker="o", mfc="white", lw=2, alpha=0.5,
                          label="Reweighting unreliable (ESS < 10% of draws)")]
        fig.legend(handles=handles, loc="outside lower center", ncols=1, frameon=False)
        set_title(fig, result, "Prior sensitivity: the pooled effect under wider and tighter priors")
    return fig
