"""The trajectories figure: the effect of each arm by month, pooled and per municipality.

Drawn from plain numbers (``summary.json``'s ``trajectories.effects``), not from a fitted
model, so the report can draw it from a run's summary alone. One panel per outcome and arm:
the pooled effect by month (line, with its interval as a band), each municipality's effect
(thin line; filled dots at the months it measured, hollow where the line only borrows the
pooled slope), zero (black), and month 0 marked as the baseline at which the effect is zero
by design.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure

from ._style import COLORS, gemeente_name, new_figure, style

GEMEENTE_COLORS = ("#0072B2", "#009E73", "#CC79A7", "#56B4E9", "#E69F00", "#F0E442", "#000000")


def plot_trajectories(effects: Sequence[dict[str, Any]], *, outcomes: Sequence[str],
                      labels: dict[str, str], factors: dict[str, float],
                      arm_titles: dict[str, str] | None = None, level: str = "90%",
                      width: float = 12.0) -> Figure:
    """Grid of effect-by-month panels: one row per outcome, one column per arm.

    ``effects``: rows with ``outcome, gemeente ('pooled' or a code), arm, month, observed,
    mean, ci_low, ci_high`` (model scale); ``factors``: model scale -> display unit per
    outcome (100 for percentage points); ``labels``: outcome titles.
    """
    arm_titles = arm_titles or {}
    rows = [e for e in effects if e["outcome"] in outcomes]
    arms = {o: list(dict.fromkeys(e["arm"] for e in rows if e["outcome"] == o and e["gemeente"] == "pooled"))
            for o in outcomes}
    ncol = max((len(a) for a in arms.values()), default=0)
    with style():
        fig = new_figure(width, 0.6 + 2.1 * max(1, len(outcomes)))
        if not rows or ncol == 0:
            ax = fig.add_subplot()
            ax.axis("off")
            ax.text(0.5, 0.5, "No trajectory fit passed the diagnostics.", ha="center")
            return fig
        axes = fig.subplots(len(outcomes), ncol, squeeze=False, sharex=True, sharey="row")
        gem = sorted({e["gemeente"] for e in rows if e["gemeente"] != "pooled"})
        color = {g: GEMEENTE_COLORS[i % len(GEMEENTE_COLORS)] for i, g in enumerate(gem)}
        months = sorted({e["month"] for e in rows})
        for i, o in enumerate(outcomes):
            f = factors.get(o, 1.0)
            unit = "pp" if f > 1 else "SD"
            for j in range(ncol):
                ax = axes[i][j]
                if j >= len(arms[o]):
                    ax.axis("off")
                    continue
                arm = arms[o][j]
                ax.axhline(0, color="black", lw=0.9, zorder=1)
                ax.axvline(0, color=COLORS["prior"], lw=0.8, ls=":", zorder=1)
                ax.plot([0], [0], "s", color="black", ms=4, zorder=5)
                pooled = sorted((e for e in rows if e["outcome"] == o and e["arm"] == arm
                                 and e["gemeente"] == "pooled"), key=lambda e: e["month"])
                xs = [e["month"] for e in pooled]
                ax.fill_between(xs, [f * e["ci_low"] for e in pooled],
                                [f * e["ci_high"] for e in pooled], color=COLORS["pooled"],
                                alpha=0.2, lw=0, zorder=2)
                ax.plot(xs, [f * e["mean"] for e in pooled], color=COLORS["pooled"], lw=2.2,
                        zorder=4, marker="o", ms=3.5)
                for e in pooled if len(pooled) == 1 else []:  # one month: no band to draw
                    ax.plot([e["month"]] * 2, [f * e["ci_low"], f * e["ci_high"]],
                            color=COLORS["pooled"], alpha=0.35, lw=6, zorder=2,
                            solid_capstyle="butt")
                for g in gem:
                    own = sorted((e for e in rows if e["outcome"] == o and e["arm"] == arm
                                  and e["gemeente"] == g), key=lambda e: e["month"])
                    if not own:
                        continue
                    ax.plot([e["month"] for e in own], [f * e["mean"] for e in own],
                            color=color[g], lw=1.0, zorder=3)
                    for e in own:
                        ax.plot([e["month"]], [f * e["mean"]], "o", ms=4, color=color[g],
                                markerfacecolor=color[g] if e["observed"] else "white", zorder=3)
                if i == 0 or j == 0:
                    ax.set_title(f"{labels.get(o, o)}\n{arm_titles.get(arm, arm)}" if j == 0
                                 else arm_titles.get(arm, arm), fontsize=8.5)
                ax.set_xticks([0, *months])
                if i == len(outcomes) - 1:
                    ax.set_xlabel("months since randomisation", fontsize=8)
                if j == 0:
                    ax.set_ylabel(f"effect ({unit})", fontsize=8)
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        handles = [Line2D([], [], color=COLORS["pooled"], lw=2.2, marker="o", ms=3.5,
                          label="pooled effect"),
                   Patch(color=COLORS["pooled"], alpha=0.2, label=f"pooled, {level} interval"),
                   Line2D([], [], color="black", marker="s", lw=0, ms=4,
                          label="month 0: baseline, zero by design")]
        handles += [Line2D([], [], color=color[g], lw=1.0, marker="o", ms=4, label=gemeente_name(g))
                    for g in gem]
        handles.append(Line2D([], [], color="#666666", lw=0, marker="o", ms=4,
                              markerfacecolor="white", label="not measured at that month"))
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 5),
                   fontsize=7.5, frameon=False)
    return fig
