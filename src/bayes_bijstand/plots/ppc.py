"""Posterior predictive check: could the model have produced the published numbers?

For every Gaussian evidence row (a published estimate with a usable SE) the model's
posterior predictive distribution of that number is drawn as a 50% and 90% interval, with
the published value as a dot. Dots far outside their 90% interval flag a municipality or
estimate the model does not explain (a misfit worth reading the source for). Values are on
the scale the study published (ITT-of-offer for Zelen designs, not divided by take-up).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ._style import (
    COLORS,
    arm_name,
    draws,
    gemeente_name,
    new_figure,
    no_data,
    set_title,
    style,
    thin_rows,
    thinned_note,
)


def ppc_table(result: Any) -> list[dict[str, Any]]:
    """Per Gaussian row: label, observed value, 5/25/50/75/95% predictive quantiles, and
    the posterior predictive p-value P(y_rep <= y_obs) (display scale)."""
    tree = result.tree
    pp = draws(tree, "posterior_predictive", "y")
    if pp is None:
        return []
    f = result.display_factor
    ds = tree["posterior_predictive"].to_dataset()
    ids = [str(v) for v in ds["y"].coords["gaussian_row"].values]
    try:
        obs = tree["observed_data"].to_dataset()["y"].values
    except KeyError:
        rows = result.data.rows.set_index("row_id")
        obs = np.array([rows.loc[i, "y"] for i in ids], dtype=float)
    rows = result.data.rows.set_index("row_id")
    out = []
    for k, rid in enumerate(ids):
        q = np.quantile(pp[k] * f, [0.05, 0.25, 0.5, 0.75, 0.95])
        label = rid
        if rid in rows.index:
            r = rows.loc[rid]
            label = f"{gemeente_name(r['gemeente'])} - {arm_name(r['arm'])}"
        out.append({"row_id": rid, "label": label, "observed": float(obs[k]) * f,
                    "q05": q[0], "q25": q[1], "q50": q[2], "q75": q[3], "q95": q[4],
                    "p_value": float(np.mean(pp[k] <= obs[k]))})
    return out


def plot_ppc(*, result: Any) -> Figure:
    """Published value vs posterior predictive 50%/90% intervals, one row per Gaussian row."""
    t = ppc_table(result)
    note = ""
    keep = thin_rows([r["p_value"] for r in t])  # hundreds of rows: an evenly spaced subset
    if keep is not None:
        note = thinned_note(len(keep), len(t), "posterior predictive p-value").replace(
            "municipalities", "rows")
        t = [t[i] for i in keep]
    with style():
        fig = new_figure(8.5, 2.0 + 0.38 * max(len(t), 1))
        if not t:
            return no_data(fig, "No posterior predictive draws for Gaussian rows.")
        ax = fig.add_subplot()
        ys = np.arange(len(t))[::-1]
        for y, r in zip(ys, t, strict=True):
            ax.plot([r["q05"], r["q95"]], [y, y], color=COLORS["posterior"], lw=2, alpha=0.45,
                    solid_capstyle="butt")
            ax.plot([r["q25"], r["q75"]], [y, y], color=COLORS["posterior"], lw=6, alpha=0.8,
                    solid_capstyle="butt")
            outside = not (r["q05"] <= r["observed"] <= r["q95"])
            ax.plot(r["observed"], y, "o", color=COLORS["divergent"] if outside else "black", ms=6,
                    zorder=3)
            ax.text(1.01, y, f"p = {r['p_value']:.2f}", transform=ax.get_yaxis_transform(),
                    va="center", fontsize=8)
        ax.axvline(0, color="black", lw=0.7)
        ax.set_yticks(ys, [f"{r['label']}  [{r['row_id']}]" for r in t])
        ax.set_xlabel(f"Published estimate, as printed ({result.unit})")
        ax.grid(axis="y", visible=False)
        if note:
            ax.set_title(note, loc="left", fontsize=9)
        handles = [Line2D([], [], color=COLORS["posterior"], lw=6, alpha=0.8, label="Predicted, 50%"),
                   Line2D([], [], color=COLORS["posterior"], lw=2, alpha=0.45, label="Predicted, 90%"),
                   Line2D([], [], marker="o", lw=0, color="black", label="Published value"),
                   Line2D([], [], marker="o", lw=0, color=COLORS["divergent"],
                          label="Published value outside the 90% prediction")]
        fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
        set_title(fig, result, "Posterior predictive check: published values vs what the model predicts")
    return fig
