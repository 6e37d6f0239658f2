"""The picture a municipality sees first: how likely is it that the arm helps?

Per arm, three bars: P(pooled effect > 0), P(pooled effect > minimal important difference)
and P(effect in a new municipality > 0), the last one being the honest answer to "will it
work here?" because it includes the variation between municipalities. Bars are
probabilities from the posterior draws, not p-values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ._style import COLORS, arm_name, draws, new_figure, no_data, set_title, style


def probability_table(result: Any) -> pd.DataFrame:
    """Per arm: ``p_gt_0, p_gt_mid`` of ``mu_arm`` and ``p_new_gt_0`` of ``theta_new``."""
    tree = result.tree
    mu_arm = draws(tree, "posterior", "mu_arm")
    theta_new = draws(tree, "posterior", "theta_new")
    mid = result.mid()
    rows = []
    if mu_arm is None:
        return pd.DataFrame(columns=["arm", "p_gt_0", "p_gt_mid", "p_new_gt_0"])
    for i, a in enumerate(result.data.arms):
        rows.append({"arm": a, "p_gt_0": float(np.mean(mu_arm[i] > 0)),
                     "p_gt_mid": float(np.mean(mu_arm[i] > mid)),
                     "p_new_gt_0": float(np.mean(theta_new[i] > 0)) if theta_new is not None
                     else np.nan})
    return pd.DataFrame(rows)


def plot_probability(*, result: Any) -> Figure:
    """Horizontal grouped bars of P(effect > 0), P(effect > MID), P(new municipality > 0)."""
    t = probability_table(result)
    mid = result.mid() * result.display_factor
    with style():
        fig = new_figure(8.5, 2.0 + 0.85 * max(len(t), 1))
        if t.empty:
            return no_data(fig, "No pooled effect in this fit (no-pooling model).")
        ax = fig.add_subplot()
        ys = np.arange(len(t))[::-1].astype(float)
        bars = [("p_gt_0", "P(pooled effect > 0)", COLORS["gt0"]),
                ("p_gt_mid", f"P(pooled effect > {mid:g} {result.unit}, the minimal important "
                             "difference)", COLORS["gtmid"]),
                ("p_new_gt_0", "P(effect > 0 in a new municipality)", COLORS["new"])]
        h = 0.26
        for k, (col, label, color) in enumerate(bars):
            vals = t[col].to_numpy(float)
            if not np.isfinite(vals).any():
                continue
            yy = ys + (1 - k) * h
            ax.barh(yy, vals * 100, height=h * 0.92, color=color, label=label)
            for y, v in zip(yy, vals, strict=True):
                if np.isfinite(v):
                    ax.text(v * 100 + 1, y, f"{100 * v:.0f}%", va="center", fontsize=8)
        ax.axvline(50, color="black", lw=0.8, ls=":")
        ax.set_xlim(0, 108)
        ax.set_xticks([0, 10, 25, 50, 75, 90, 100])
        ax.set_yticks(ys, [arm_name(a) for a in t["arm"]])
        ax.set_xlabel("Probability (%) - from the posterior, given the model and the evidence")
        ax.grid(axis="y", visible=False)
        fig.legend(loc="outside lower center", ncols=1, frameon=False)
        set_title(fig, result, "How likely is a positive effect? (per arm)")
    return fig
