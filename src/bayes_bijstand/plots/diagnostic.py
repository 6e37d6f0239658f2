"""Sampler diagnostics as pictures: rank, trace, energy and the mu-tau funnel.

These are for the analyst, not the municipality: they show whether the chains agree
(rank plots near flat, traces that overlap like "hairy caterpillars"), whether the sampler
explored the energy distribution (energy plot, E-BFMI >= 0.3), and whether the hierarchical
geometry caused trouble (divergent transitions, red, piling up at small ``tau`` in the
mu-vs-log-tau scatter: the "funnel"). A fit that fails the numeric gate in
:mod:`bayes_bijstand.diagnostics` is excluded from the report whatever these look like.

Rank, trace and energy plots are ``arviz_plots`` batteries-included plots; the figure is
taken out of the returned PlotCollection and closed in pyplot's registry right away, so
the functions leave no global state behind.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ._style import (
    COLORS,
    arm_name,
    coord,
    draws,
    new_figure,
    no_data,
    outcome_title,
    set_title,
    style,
)

_DIAG_VARS = ("mu", "tau")


def _var_names(result: Any) -> list[str]:
    post = result.tree["posterior"].to_dataset()
    names = [v for v in _DIAG_VARS if v in post.data_vars]
    return names or [v for v in ("theta",) if v in post.data_vars]


def _collection_figure(pc: Any) -> Figure:
    """The matplotlib Figure of an arviz_plots PlotCollection, detached from pyplot."""
    fig = pc.viz["figure"].item()
    plt.close(fig)
    return fig


def _finish(fig: Figure, result: Any, what: str) -> Figure:
    lines = [f"{what} - {outcome_title(result)}"]
    d = result.diagnostics
    lines.append(f"R-hat max {d.rhat_max:.3f}, bulk ESS min {d.ess_bulk_min:.0f}, "
                 f"divergences {d.divergences}, status: {d.status}")
    fig.suptitle("\n".join(lines), fontsize=11, fontweight="bold",
                 color="black" if d.passed else "#B00000")
    return fig


def plot_rank(*, result: Any) -> Figure:
    """Rank (Delta-ECDF) plots of mu and tau per component: flat within the band = chains agree."""
    import arviz_plots as azp

    with style():
        pc = azp.plot_rank(result.tree, var_names=_var_names(result), backend="matplotlib")
        fig = _collection_figure(pc)
        fig.set_layout_engine("constrained")
        return _finish(fig, result, "Rank plots")


def plot_trace(*, result: Any) -> Figure:
    """Trace plots of mu and tau per component (divergences marked on the x axis)."""
    import arviz_plots as azp

    with style():
        pc = azp.plot_trace(result.tree, var_names=_var_names(result), backend="matplotlib")
        fig = _collection_figure(pc)
        fig.set_layout_engine("constrained")
        return _finish(fig, result, "Trace plots")


def plot_energy(*, result: Any) -> Figure:
    """Marginal vs transition energy with per-chain E-BFMI (threshold 0.3)."""
    import arviz_plots as azp

    with style():
        ss = result.tree["sample_stats"].to_dataset()
        if "energy" not in ss.data_vars:
            return no_data(new_figure(6, 3), "The sampler stored no energy statistics.")
        pc = azp.plot_energy(result.tree, backend="matplotlib")
        fig = _collection_figure(pc)
        fig.set_layout_engine("constrained")
        return _finish(fig, result, "Energy plot")


def plot_funnel(*, result: Any) -> Figure:
    """Scatter of mu against log(tau) per component with divergent draws highlighted.

    A funnel (mu narrowing as log tau falls) with divergences clustered at its neck means
    the sampler could not explore small heterogeneity; the non-centred parametrisation is
    there to prevent it.
    """
    tree = result.tree
    f = result.display_factor
    mu, tau = draws(tree, "posterior", "mu"), draws(tree, "posterior", "tau")
    comps = coord(tree, "posterior", "mu", "component")
    with style():
        fig = new_figure(3.3 * max(len(comps), 1) + 0.4, 3.9)
        if mu is None or tau is None or not comps:
            return no_data(fig, "No mu/tau in this fit (pooling mode without heterogeneity).")
        ss = tree["sample_stats"].to_dataset()
        div = (ss["diverging"].stack(sample=("chain", "draw")).values.astype(bool)
               if "diverging" in ss.data_vars else np.zeros(mu.shape[-1], bool))
        axes = fig.subplots(1, len(comps), squeeze=False)[0]
        for i, (ax, c) in enumerate(zip(axes, comps, strict=True)):
            lt = np.log(np.maximum(tau[i] * f, 1e-12))
            ax.scatter(mu[i][~div] * f, lt[~div], s=6, alpha=0.35, color=COLORS["posterior"],
                       lw=0, rasterized=True)
            if div.any():
                ax.scatter(mu[i][div] * f, lt[div], s=16, color=COLORS["divergent"], lw=0)
            ax.set_title(arm_name(c), fontsize=10)
            ax.set_xlabel(f"mu ({result.unit})")
        axes[0].set_ylabel(f"log tau ({result.unit})")
        handles = [Line2D([], [], marker="o", lw=0, color=COLORS["posterior"], label="draw"),
                   Line2D([], [], marker="o", lw=0, color=COLORS["divergent"],
                          label=f"divergent draw ({int(div.sum())})")]
        fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
        set_title(fig, result, "Funnel check: pooled effect vs log heterogeneity")
    return fig
