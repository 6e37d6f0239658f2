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
    level_text,
    new_figure,
    no_data,
    set_title,
    style,
    weighted_quantile,
)

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


def plot_sensitivity(*, result: Any, alphas: tuple[float, ...] = ALPHAS) -> Figure:
    """Pooled effect per arm as the prior of mu (left) or of tau (right) is power-scaled.

    One panel per scaled prior with the arms as blocks of rows (a=alpha per row): two axes
    instead of one per arm and prior, which drew in a third of the time.
    """
    t = sensitivity_table(result, alphas=alphas)
    arms = list(dict.fromkeys(t["arm"])) if len(t) else []
    priors = list(dict.fromkeys(t["prior"])) if len(t) else []
    n_a = len(alphas)
    with style():
        fig = new_figure(4.6 * max(len(priors), 1) + 2.2, 1.6 + 0.2 * (n_a + 1) * max(len(arms), 1))
        if not arms:
            return no_data(fig, "No pooled effect: prior sensitivity not applicable.")
        axes = fig.subplots(1, len(priors), squeeze=False, sharey=True)[0]
        header = {"mu": "Scaling the prior of the pooled effects (mu)",
                  "tau": "Scaling the prior of the heterogeneity (tau)"}
        ticks: list[float] = []
        labels: list[str] = []
        for j, pname in enumerate(priors):
            ax = axes[j]
            sub_p = t[t["prior"] == pname]
            for b, arm in enumerate(arms):
                sub = sub_p[sub_p["arm"] == arm].reset_index(drop=True)
                top = -b * (n_a + 1)
                for k, r in sub.iterrows():
                    y = top - k
                    base = np.isclose(r["alpha"], 1.0)
                    ok = r["ess_frac"] >= ESS_WARN
                    color = COLORS["pooled"] if base else COLORS["posterior"]
                    ax.plot([r["ci_low"], r["ci_high"]], [y, y], color=color, lw=2,
                            alpha=1.0 if ok else 0.45)
                    ax.plot(r["mean"], y, "D" if base else "o", ms=5, mec=color,
                            mfc=color if ok else "white")
                    if j == 0:
                        ticks.append(y)
                        labels.append(f"{arm_name(arm)}: a={r['alpha']:g}" if k == 0
                                      else f"a={r['alpha']:g}")
                if b:
                    ax.axhline(top + 1, color="0.85", lw=0.8)
            ax.axvline(0, color="black", lw=0.7)
            ax.grid(axis="y", visible=False)
            sd1 = float(sub_p.loc[np.isclose(sub_p["alpha"], 1.0), "prior_sd"].iloc[0]) \
                if np.isclose(sub_p["alpha"], 1.0).any() else float("nan")
            ax.set_title(f"{header[pname]}\nprior sd {sd1:.3g} at a=1, sd/sqrt(a) otherwise",
                         loc="left", fontsize=8.5)
            ax.set_xlabel(effect_label(result, "Pooled effect"))
        axes[0].set_yticks(ticks, labels, fontsize=7.5)
        handles = [Line2D([], [], color=COLORS["pooled"], marker="D", lw=2, label="Prior as specified"),
                   Line2D([], [], color=COLORS["posterior"], marker="o", lw=2,
                          label="Power-scaled prior (a<1 wider, a>1 tighter; "
                                f"{level_text(result)} interval)"),
                   Line2D([], [], color=COLORS["posterior"], marker="o", mfc="white", lw=2, alpha=0.5,
                          label="Reweighting unreliable (ESS < 10% of draws)")]
        fig.legend(handles=handles, loc="outside lower center", ncols=1, frameon=False)
        set_title(fig, result, "Prior sensitivity: the pooled effect under wider and tighter priors")
    return fig
