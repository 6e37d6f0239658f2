"""Prior versus posterior for the pooled component effects (mu) and heterogeneity (tau).

When the posterior (blue) is much narrower than the prior (grey), the evidence determined
the answer; when the two look alike, the answer is mostly the prior's and should be read as
"we do not know yet". With few municipalities this is typical for ``tau``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy import stats

from ._style import COLORS, arm_name, coord, draws, new_figure, no_data, set_title, style


def _density(ax: Any, x: np.ndarray, grid: np.ndarray, color: str, *, positive: bool) -> None:
    """Kernel density of ``x`` on ``grid`` (reflected at zero for positive quantities)."""
    x = x[np.isfinite(x)]
    if x.size < 2 or np.std(x) == 0:
        return
    kde = stats.gaussian_kde(x)
    y = kde(grid)
    if positive:
        y = y + kde(-grid)
    ax.fill_between(grid, y, color=color, alpha=0.35, lw=0)
    ax.plot(grid, y, color=color, lw=1.5)


def plot_prior_posterior(*, result: Any, var_names: tuple[str, ...] = ("mu", "tau")) -> Figure:
    """Grid of prior/posterior histograms: rows = components, columns = ``var_names``."""
    tree = result.tree
    f = result.display_factor
    names = [v for v in var_names if draws(tree, "posterior", v) is not None
             and draws(tree, "prior", v) is not None]
    comps = coord(tree, "posterior", names[0], "component") if names else []
    with style():
        fig = new_figure(4.0 * max(len(names), 1) + 0.5, 1.4 + 1.7 * max(len(comps), 1))
        if not names or not comps:
            return no_data(fig, "No prior draws stored for mu/tau (prior predictive not sampled).")
        axes = fig.subplots(len(comps), len(names), squeeze=False)
        for j, v in enumerate(names):
            post = draws(tree, "posterior", v) * f
            pri = draws(tree, "prior", v) * f
            pcomps = coord(tree, "prior", v, "component")
            for i, c in enumerate(comps):
                ax = axes[i, j]
                x_post = post[i]
                x_pri = pri[pcomps.index(c)] if c in pcomps else pri[i]
                lo = float(np.quantile(np.concatenate([x_pri, x_post]), 0.005))
                hi = float(np.quantile(np.concatenate([x_pri, x_post]), 0.995))
                if v == "tau":
                    lo = 0.0
                grid = np.linspace(lo, hi, 200)
                _density(ax, x_pri, grid, COLORS["prior"], positive=v == "tau")
                _density(ax, x_post, grid, COLORS["posterior"], positive=v == "tau")
                ax.set_xlim(lo, hi)
                ratio = float(np.std(x_post) / np.std(x_pri)) if np.std(x_pri) > 0 else np.nan
                ax.text(0.98, 0.95, f"posterior sd / prior sd = {ratio:.2f}",
                        transform=ax.transAxes, ha="right", va="top", fontsize=8)
                ax.set_yticks([])
                if i == 0:
                    ax.set_title({"mu": "Pooled effect mu", "tau": "Between-municipality sd tau"}
                                 .get(v, v), fontsize=10, fontweight="bold")
                if j == 0:
                    ax.set_ylabel(arm_name(c), fontsize=9)
                if v == "mu":
                    ax.axvline(0, color="black", lw=0.7)
            axes[-1, j].set_xlabel(f"{v} ({result.unit})")
        handles = [Line2D([], [], color=COLORS["prior"], lw=6, alpha=0.5, label="Prior"),
                   Line2D([], [], color=COLORS["posterior"], lw=6, alpha=0.5, label="Posterior")]
        fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
        set_title(fig, result, "Prior vs posterior per component: how much the data taught us")
    return fig
