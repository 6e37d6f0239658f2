"""The forest plot: what each municipality published, what the model believes, and the pool.

This is the key figure. Per arm, one row per municipality shows the published estimate
with its derived interval (grey; marker = evidence type) directly above the shrunken
municipality posterior (blue; mean and 90% interval), both also as text on the right, and
every panel has its own effect axis. Below them, the pooled effect
(``mu_arm``) and the predictive interval for a new municipality (``theta_new``). A reader
sees at once whether the municipalities agree, how much each estimate was pulled toward
the pool, and how wide the range is that another municipality should expect.

Prose rows (a report that only says "more people worked") have no published number; they
are drawn as an arrow from zero in the stated direction.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..evidence.grade_registry import grades_with
from ._style import (
    COLORS,
    GRADE_LABELS,
    GRADE_MARKERS,
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


def forest_table(result: Any) -> pd.DataFrame:
    """The rows behind the forest plot, in plot order and on the display scale.

    Columns: ``arm, row_kind`` (``gemeente`` | ``pooled`` | ``predictive``), ``label,
    gemeente, grade, published, published_low, published_high, published_kind, direction``
    (+1/-1/0 for prose rows, NaN otherwise), ``mean, ci_low, ci_high, prob_gt_0, pooling``.
    ``published`` is on the scale of the shrunken effect (per participant): the printed
    estimate (``published_kind = "printed"``), or for an ITT of the offer with take-up < 1
    that estimate divided by take-up (``"ITT / take-up"``, which no report printed).
    """
    f = result.display_factor
    gem = result.gemeenten()
    summ = result.summary()
    rows = result.data.rows.set_index("row_id")
    out: list[dict[str, Any]] = []
    for arm in result.data.arms:
        sub = gem[gem["arm"] == arm]
        for _, r in sub.iterrows():
            direction = np.nan
            if not np.isfinite(r["published"]) and r["row_id"] in rows.index:
                fam = rows.loc[r["row_id"], "family"]
                if fam == "z_censored" or r["grade"] in grades_with(se_rule="censored"):
                    direction = float(np.sign(rows.loc[r["row_id"], "sign"]))
            wald = bool(r.get("wald", False))
            col = "per_participant" if "per_participant" in r.index else "published"
            kind = "" if not np.isfinite(r[col]) else "ITT / take-up" if wald else "printed"
            out.append({
                "arm": arm, "row_kind": "gemeente", "label": gemeente_name(r["gemeente"]),
                "gemeente": r["gemeente"], "grade": r["grade"], "row_id": r["row_id"],
                "published": r[col] * f, "published_low": r[f"{col}_low"] * f,
                "published_high": r[f"{col}_high"] * f, "published_kind": kind,
                "direction": direction,
                "mean": r["mean"] * f, "ci_low": r["ci_low"] * f, "ci_high": r["ci_high"] * f,
                "prob_gt_0": r["prob_gt_0"], "pooling": r["pooling"],
            })
        for param, kind, label in (("mu_arm", "pooled", "Pooled effect"),
                                   ("theta_new", "predictive", "New municipality")):
            p = summ[(summ["parameter"] == param) & (summ["label"] == arm)]
            if p.empty:
                continue
            q = p.iloc[0]
            out.append({
                "arm": arm, "row_kind": kind, "label": label, "gemeente": "", "grade": "",
                "row_id": "", "published": np.nan, "published_low": np.nan,
                "published_high": np.nan, "published_kind": "", "direction": np.nan,
                "mean": q["mean"] * f,
                "ci_low": q["ci_low"] * f, "ci_high": q["ci_high"] * f,
                "prob_gt_0": q["prob_gt_0"], "pooling": np.nan,
            })
    return pd.DataFrame(out)


def _fmt(x: float) -> str:
    return f"{x:+.1f}" if abs(x) >= 0.1 or x == 0 else f"{x:+.2f}"


def _thinned(t: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """The forest table with at most :data:`~._style.MAX_ROWS` municipality rows per arm
    (evenly spaced by the estimate after pooling, drawn in that order) and a note per thinned
    arm; the table itself when every arm fits."""
    notes: dict[str, str] = {}
    parts = []
    for arm in dict.fromkeys(t["arm"]):
        sub = t[t["arm"] == arm]
        gem = sub[sub["row_kind"] == "gemeente"]
        keep = thin_rows(gem["mean"])
        if keep is not None:
            notes[arm] = thinned_note(len(keep), len(gem), "the estimate after pooling")
            gem = gem.iloc[keep]
        parts.append(pd.concat([gem, sub[sub["row_kind"] != "gemeente"]]))
    return (pd.concat(parts, ignore_index=True), notes) if notes else (t, notes)


def plot_forest(*, result: Any, table: pd.DataFrame | None = None, show_values: bool = True) -> Figure:
    """Draw the forest plot of one fitted outcome (one panel per arm); returns the Figure.

    An arm with more than :data:`~._style.MAX_ROWS` municipalities shows that many of them,
    evenly spaced by their estimate after pooling, and says so in its panel title.
    """
    t = forest_table(result) if table is None else table
    t, notes = _thinned(t) if len(t) else (t, {})
    arms = list(dict.fromkeys(t["arm"])) if len(t) else []
    n_rows = [int((t["arm"] == a).sum()) for a in arms]
    with style():
        fig = new_figure(9.0, 2.6 + 0.45 * sum(n_rows) + 0.45 * len(arms))
        if not arms:
            return no_data(fig, "No municipality rows to show.")
        axes = fig.subplots(len(arms), 1, sharex=True, squeeze=False,
                            gridspec_kw={"height_ratios": [max(n, 1) + 0.6 for n in n_rows]})[:, 0]
        f = result.display_factor
        mid = result.mid() * f
        finite = t[["published_low", "published_high", "ci_low", "ci_high"]].to_numpy(float)
        finite = finite[np.isfinite(finite)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 1.0)
        span = max(hi - lo, 1e-9)
        arrow_len = 0.12 * span
        for ax, arm in zip(axes, arms, strict=True):
            sub = t[t["arm"] == arm].reset_index(drop=True)
            ys = np.arange(len(sub))[::-1].astype(float)
            for y, (_, r) in zip(ys, sub.iterrows(), strict=True):
                if r["row_kind"] == "gemeente":
                    if np.isfinite(r["published"]):
                        ax.plot([r["published_low"], r["published_high"]], [y + 0.17] * 2,
                                color=COLORS["published"], lw=1.6, solid_capstyle="butt")
                        wald = r.get("published_kind") == "ITT / take-up"
                        ax.plot(r["published"], y + 0.17, GRADE_MARKERS.get(r["grade"], "o"),
                                color="white" if wald else COLORS["published"], ms=6,
                                mec=COLORS["published"] if wald else "white", mew=1.2 if wald else 0.6)
                        if wald:  # not a printed number: the printed ITT divided by take-up
                            ax.text(r["published"], y + 0.42, "ITT \u00f7 take-up", ha="center",
                                    va="bottom", fontsize=7, color=COLORS["published"])
                    else:
                        d = r["direction"] if np.isfinite(r["direction"]) else 0.0
                        if d != 0:
                            ax.annotate("", xy=(d * arrow_len, y + 0.17), xytext=(0, y + 0.17),
                                        arrowprops={"arrowstyle": "-|>", "color": COLORS["published"],
                                                    "lw": 1.6})
                        ax.text(d * arrow_len * 1.1 if d else 0, y + 0.17,
                                "  prose: " + ("higher" if d > 0 else "lower" if d < 0 else
                                               "direction not stated") + "  ",
                                ha="left" if d >= 0 else "right", va="center", fontsize=8,
                                color=COLORS["published"])
                    ax.plot([r["ci_low"], r["ci_high"]], [y - 0.17] * 2, color=COLORS["shrunken"],
                            lw=2.4, solid_capstyle="butt")
                    ax.plot(r["mean"], y - 0.17, "o", color=COLORS["shrunken"], ms=6)
                elif r["row_kind"] == "pooled":
                    m, a, b = r["mean"], r["ci_low"], r["ci_high"]
                    ax.fill([a, m, b, m], [y, y + 0.28, y, y - 0.28], color=COLORS["pooled"],
                            alpha=0.9, lw=0)
                else:
                    ax.plot([r["ci_low"], r["ci_high"]], [y, y], color=COLORS["predictive"],
                            lw=5, alpha=0.55, solid_capstyle="butt")
                    ax.plot(r["mean"], y, "|", color=COLORS["predictive"], ms=12, mew=2)
                if show_values and r["row_kind"] == "gemeente":
                    if np.isfinite(r["published"]):
                        what = ("ITT \u00f7 take-up" if r.get("published_kind") == "ITT / take-up"
                                else "published")
                        pub = (f"{what} {_fmt(r['published'])} "
                               f"[{_fmt(r['published_low'])}, {_fmt(r['published_high'])}]")
                    else:
                        d = r["direction"] if np.isfinite(r["direction"]) else 0.0
                        pub = "published: prose, " + ("higher" if d > 0 else "lower" if d < 0
                                                      else "no direction")
                    ax.text(1.01, y + 0.17, pub, transform=ax.get_yaxis_transform(), va="center",
                            ha="left", fontsize=7.5, color=COLORS["published"])
                    ax.text(1.01, y - 0.17,
                            f"pooled {_fmt(r['mean'])} [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]",
                            transform=ax.get_yaxis_transform(), va="center", ha="left",
                            fontsize=7.5, color=COLORS["shrunken"])
                elif show_values:
                    ax.text(1.01, y, f"{_fmt(r['mean'])} [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]",
                            transform=ax.get_yaxis_transform(), va="center", ha="left", fontsize=8,
                            color="black")
            sep = int((sub["row_kind"] == "gemeente").sum())
            if 0 < sep < len(sub):
                ax.axhline(ys[sep - 1] - 0.5, color="black", lw=0.6, alpha=0.5)
            ax.axvline(0, color="black", lw=0.9)
            if mid:
                ax.axvline(mid, color=COLORS["mid"], lw=1.0, ls="--")
            ax.set_yticks(ys, [str(x) for x in sub["label"]])
            ax.set_ylim(-0.7, len(sub) - 0.3)
            ax.set_title(f"Arm: {arm_name(arm)}" + (f"\n{notes[arm]}" if arm in notes else ""),
                         loc="left", fontsize=10, fontweight="bold")
            ax.grid(axis="y", visible=False)
            ax.tick_params(axis="x", labelbottom=True)  # the axis on every panel
        axes[-1].set_xlabel(effect_label(result) + "  -  positive = more than the control group")
        handles = [
            Line2D([], [], color=COLORS["published"], marker="o", lw=1.6,
                   label=f"Published estimate (derived {level_text(result)} interval)"),
            Line2D([], [], color=COLORS["shrunken"], marker="o", lw=2.4,
                   label=f"Municipality, after pooling ({level_text(result)} interval)"),
            Line2D([], [], color=COLORS["pooled"], marker="D", lw=0, ms=8, label=f"Pooled effect ({level_text(result)})"),
            Line2D([], [], color=COLORS["predictive"], lw=5, alpha=0.55,
                   label=f"Expected range for a new municipality ({level_text(result)})"),
            Line2D([], [], color=COLORS["mid"], ls="--", label=f"Minimal important difference ({mid:+g} {result.unit})"),
        ]
        grades = [g for g in GRADE_MARKERS if g in set(t["grade"])]
        handles += [Line2D([], [], color=COLORS["published"], marker=GRADE_MARKERS[g], lw=0,
                           label=f"evidence type: {GRADE_LABELS[g]}") for g in grades]
        fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
        set_title(fig, result, "Effect per municipality, pooled effect and the range for a new "
                  "municipality")
    return fig
