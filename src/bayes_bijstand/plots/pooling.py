"""The pooling plot: how far each municipality's estimate was pulled toward the pool.

Per arm, each municipality gets an arrow from its published estimate (no pooling: the
municipality on its own) to its shrunken posterior mean (partial pooling), with the pooled
effect (full pooling: every municipality the same) as a vertical band. Long arrows mean a
noisy published estimate that the other municipalities corrected; short arrows mean a
precise estimate that stands on its own. The label gives the pooling factor
(0% = kept as published, 100% = replaced by the pooled mean). When a no-pooling fit is
available (``no_pooling``: a table with ``gemeente, arm, mean`` on the model scale, from
``pooling_comparison.csv``) its posterior means are drawn as crosses.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ._style import (
    COLORS,
    arm_name,
    effect_label,
    gemeente_name,
    level_text,
    new_figure,
    no_data,
    set_title,
    style,
    thin_rows,
    thinned_note,
)


def plot_pooling(*, result: Any, no_pooling: pd.DataFrame | None = None) -> Figure:
    """Arrows from published to shrunken estimate per municipality and arm; returns the Figure."""
    f = result.display_factor
    gem = result.gemeenten()
    summ = result.summary()
    arms = [a for a in result.data.arms if (gem["arm"] == a).any()]
    subs: dict[str, pd.DataFrame] = {}
    notes: dict[str, str] = {}
    for a in arms:  # more than MAX_ROWS municipalities: a readable, evenly spaced subset
        sub = gem[gem["arm"] == a].reset_index(drop=True)
        keep = thin_rows(sub["mean"])
        if keep is not None:
            notes[a] = thinned_note(len(keep), len(sub), "the estimate after pooling")
            sub = sub.iloc[keep].reset_index(drop=True)
        subs[a] = sub
    n = [len(subs[a]) for a in arms]
    with style():
        fig = new_figure(8.5, 2.2 + 0.42 * sum(n) + 0.55 * len(arms))
        if not arms:
            return no_data(fig, "No municipality estimates to compare.")
        axes = fig.subplots(len(arms), 1, sharex=True, squeeze=False,
                            gridspec_kw={"height_ratios": [k + 0.8 for k in n]})[:, 0]
        for ax, arm in zip(axes, arms, strict=True):
            sub = subs[arm]
            pooled = summ[(summ["parameter"] == "mu_arm") & (summ["label"] == arm)]
            if not pooled.empty:
                p = pooled.iloc[0]
                ax.axvspan(p["ci_low"] * f, p["ci_high"] * f, color=COLORS["pooled"], alpha=0.12, lw=0)
                ax.axvline(p["mean"] * f, color=COLORS["pooled"], lw=1.5)
            ys = np.arange(len(sub))[::-1].astype(float)
            for y, (_, r) in zip(ys, sub.iterrows(), strict=True):
                m = r["mean"] * f
                # Start on the scale of the shrunken effect (per participant); for an ITT of
                # the offer that is the printed value divided by take-up (said in the text).
                start = r["per_participant"] if "per_participant" in r.index else r["published"]
                if np.isfinite(start):
                    x0 = start * f
                    ax.plot(x0, y, "o", mfc="white", mec=COLORS["published"], mew=1.5, ms=7)
                    ax.annotate("", xy=(m, y), xytext=(x0, y),
                                arrowprops={"arrowstyle": "-|>", "color": COLORS["shrunken"],
                                            "lw": 1.4, "shrinkA": 4, "shrinkB": 3})
                    txt = (f"pulled {100 * r['pooling']:.0f}% toward the pool"
                           if np.isfinite(r["pooling"]) else "")
                    if bool(r.get("wald", False)):
                        txt += " (from ITT \u00f7 take-up, not printed)"
                else:
                    txt = "no published number (prose)"
                ax.plot(m, y, "o", color=COLORS["shrunken"], ms=7)
                ax.text(1.01, y, txt, transform=ax.get_yaxis_transform(), va="center", fontsize=8)
                if no_pooling is not None and len(no_pooling):
                    npm = no_pooling[(no_pooling["gemeente"] == r["gemeente"]) & (no_pooling["arm"] == arm)]
                    if len(npm):
                        ax.plot(float(npm["mean"].iloc[0]) * f, y, "x", color="black", ms=7)
            ax.axvline(0, color="black", lw=0.8)
            ax.set_yticks(ys, [gemeente_name(g) for g in sub["gemeente"]])
            ax.set_ylim(-0.8, len(sub) - 0.2)
            ax.set_title(f"Arm: {arm_name(arm)}" + (f"\n{notes[arm]}" if arm in notes else ""),
                         loc="left", fontsize=10, fontweight="bold")
            ax.grid(axis="y", visible=False)
        axes[-1].set_xlabel(effect_label(result))
        handles = [
            Line2D([], [], marker="o", lw=0, mfc="white", mec=COLORS["published"], mew=1.5,
                   label="Published (municipality on its own)"),
            Line2D([], [], marker="o", lw=0, color=COLORS["shrunken"],
                   label="After partial pooling (posterior mean)"),
            Line2D([], [], color=COLORS["pooled"], lw=1.5, label="Pooled effect (full pooling)"),
            Patch(color=COLORS["pooled"], alpha=0.15,
                  label=f"Pooled {level_text(result)} interval"),
        ]
        if no_pooling is not None and len(no_pooling):
            handles.append(Line2D([], [], marker="x", lw=0, color="black",
                                  label="No-pooling model (posterior mean)"))
        fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
        set_title(fig, result, "Shrinkage: how far each municipality moved toward the pooled effect")
    return fig
