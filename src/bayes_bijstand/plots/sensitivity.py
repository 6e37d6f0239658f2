"""Prior sensitivity by power-scaling, drawn: the table is computed by
:func:`bayes_bijstand.checks.sensitivity.sensitivity_table`; this module only draws it."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..checks.sensitivity import ALPHAS, ESS_WARN, sensitivity_table
from ._style import (
    COLORS,
    arm_name,
    effect_label,
    level_text,
    new_figure,
    no_data,
    set_title,
    style,
)


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
