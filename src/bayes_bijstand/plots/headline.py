"""The headline figure: pooled per-participant effects of every arm on the outcomes that
answer the policy question, across outcomes (rows) and arms (columns).

Drawn from plain numbers (the report's results), not from a fitted model, so the report can
draw it from a run's ``summary.json`` alone. Per cell: the pooled effect (dot) with its
interval at the run's level (thick bar), the range for a new municipality (thin bar), zero (black) and the
minimal important difference (green, dashed). A hollow grey dot marks a result where the
data barely narrowed the prior (posterior/prior SD > 0.8); a filled dot's colour is the
certainty of the evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure

from ._style import COLORS, new_figure, style

CERTAINTY_COLORS: dict[str, str] = {
    "high": "#005A8C", "moderate": "#0072B2", "low": "#D55E00", "very low": "#B07AA1",
}


def plot_headline(results: Sequence[Any], *, arms: Sequence[str], arm_titles: dict[str, str],
                  width: float = 12.0, level: str = "90%") -> Figure:
    """Grid of pooled effects: one column per arm, one row block per unit (pp, then SD).

    ``results`` need the attributes of :class:`bayes_bijstand.report.results.Result`
    (outcome, arm, label_en, unit, mean, ci_low, ci_high, new_low, new_high, mid,
    certainty.level, certainty.mostly_prior), already in display order. ``level`` is the
    run's interval level as text (``fit --ci-prob``), shown in the legend.
    """
    units = [u for u in ("pp", "SD") if any(r.unit == u for r in results)]
    outcomes = {u: list(dict.fromkeys(r.outcome for r in results if r.unit == u)) for u in units}
    labels = {r.outcome: r.label_en for r in results}
    heights = [max(1, len(outcomes[u])) for u in units]
    with style():
        fig = new_figure(width, 0.9 + 0.3 * sum(heights) + 0.35 * len(units))
        if not results:
            ax = fig.add_subplot()
            ax.axis("off")
            ax.text(0.5, 0.5, "No pooled result passed the diagnostics.", ha="center")
            return fig
        grid = fig.add_gridspec(len(units), len(arms), height_ratios=heights)
        for i, u in enumerate(units):
            outs = outcomes[u]
            rows = [r for r in results if r.unit == u]
            lo = min(min(r.new_low, r.ci_low) for r in rows)
            hi = max(max(r.new_high, r.ci_high) for r in rows)
            mid = max((r.mid for r in rows), default=0.0)
            pad = 0.05 * (hi - lo or 1.0)
            for j, arm in enumerate(arms):
                ax = fig.add_subplot(grid[i, j])
                ax.set_ylim(len(outs) - 0.5, -0.5)
                ax.set_xlim(min(lo, -mid) - pad, max(hi, mid) + pad)
                ax.axvline(0, color="black", lw=0.9, zorder=1)
                ax.axvline(mid, color=COLORS["mid"], lw=0.9, ls="--", zorder=1)
                ax.set_yticks(range(len(outs)))
                ax.set_yticklabels([labels[o] for o in outs] if j == 0 else [])
                ax.grid(axis="y", visible=False)
                ax.tick_params(axis="y", length=0)
                if i == 0:
                    ax.set_title(arm_titles.get(arm, arm), fontsize=9.5, fontweight="bold")
                ax.set_xlabel("percentage points" if u == "pp" else "SD (SMD)", fontsize=8.5)
                for r in rows:
                    if r.arm != arm:
                        continue
                    y = outs.index(r.outcome)
                    prior = r.certainty.mostly_prior
                    col = "#9a9a9a" if prior else CERTAINTY_COLORS.get(r.certainty.level, "#0072B2")
                    ax.plot([r.new_low, r.new_high], [y, y], color=COLORS["predictive"], lw=1.2,
                            alpha=0.8, zorder=2, solid_capstyle="butt")
                    ax.plot([r.ci_low, r.ci_high], [y, y], color=col, lw=3.2, zorder=3,
                            solid_capstyle="butt")
                    ax.plot([r.mean], [y], "o", ms=5.5, zorder=4, color=col,
                            markerfacecolor="white" if prior else col, markeredgewidth=1.3)
                for k in range(len(outs)):
                    if not any(r.arm == arm and r.outcome == outs[k] for r in rows):
                        ax.text(0.5, k, "not pooled", transform=ax.get_yaxis_transform(),
                                ha="center", va="center", fontsize=7, color="#888888")
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], color=CERTAINTY_COLORS[c], lw=3.2, marker="o", label=f"certainty {c}")
                   for c in ("high", "moderate", "low", "very low")
                   if any(r.certainty.level == c and not r.certainty.mostly_prior for r in results)]
        if any(r.certainty.mostly_prior for r in results):
            handles.append(Line2D([], [], color="#9a9a9a", lw=3.2, marker="o",
                                  markerfacecolor="white",
                                  label="mostly the prior (posterior/prior SD > 0.8)"))
        handles += [Line2D([], [], color=COLORS["predictive"], lw=1.2, label=f"new municipality, {level}"),
                    Line2D([], [], color=COLORS["mid"], lw=0.9, ls="--",
                           label="minimal important difference")]
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8,
                   frameon=False)
    return fig


def plot_refits(rows: Sequence[dict[str, Any]], *, arms: Sequence[str], arm_titles: dict[str, str],
                keys: Sequence[str], key_labels: dict[str, str], unit: str,
                baseline: str | None = None, width: float = 12.0) -> Figure:
    """Compact robustness figure: one column per arm, one row per refit (``keys`` order).

    ``rows``: dicts with ``key, arm, mean, ci_low, ci_high, passed`` on the display scale.
    The ``baseline`` row's interval is drawn as a shaded band across its column, so a refit
    that leaves the band is visible at once; a refit that failed the diagnostics is hollow.
    """
    with style():
        fig = new_figure(width, 0.8 + 0.26 * len(keys))
        if not rows or not arms:
            return no_data_fig(fig)
        vals = [v for r in rows for v in (r["ci_low"], r["ci_high"]) if v == v]
        lo, hi = (min(vals), max(vals)) if vals else (-1.0, 1.0)
        pad = 0.05 * (hi - lo or 1.0)
        axes = fig.subplots(1, len(arms), squeeze=False)[0]
        for j, (ax, arm) in enumerate(zip(axes, arms, strict=True)):
            ax.set_xlim(lo - pad, hi + pad)
            ax.set_ylim(len(keys) - 0.5, -0.5)
            ax.axvline(0, color="black", lw=0.9)
            ax.grid(axis="y", visible=False)
            ax.set_title(arm_titles.get(arm, arm), fontsize=9.5, fontweight="bold")
            ax.set_xlabel(unit, fontsize=8.5)
            ax.set_yticks(range(len(keys)))
            ax.set_yticklabels([key_labels.get(k, k) for k in keys] if j == 0 else [])
            ax.tick_params(axis="y", length=0)
            base = next((r for r in rows if r["arm"] == arm and r["key"] == baseline), None)
            if base is not None:
                ax.axvspan(base["ci_low"], base["ci_high"], color=COLORS["pooled"], alpha=0.12, lw=0)
                ax.axvline(base["mean"], color=COLORS["pooled"], lw=0.8, alpha=0.6)
            for r in rows:
                if r["arm"] != arm or r["key"] not in keys or r["mean"] != r["mean"]:
                    continue
                y = list(keys).index(r["key"])
                col = COLORS["pooled"] if r["key"] == baseline else COLORS["shrunken"]
                ax.plot([r["ci_low"], r["ci_high"]], [y, y], color=col, lw=2.2, solid_capstyle="butt")
                ax.plot([r["mean"]], [y], "o", color=col, ms=4.5,
                        markerfacecolor=col if r.get("passed", True) else "white")
    return fig


def no_data_fig(fig: Figure) -> Figure:
    """A labelled empty figure."""
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, "No refits to show.", ha="center")
    return fig
