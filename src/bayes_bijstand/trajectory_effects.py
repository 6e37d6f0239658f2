"""Effects by month from a trajectory fit: pooled and per municipality, and their change.

A trajectory fit (:mod:`bayes_bijstand.models.trajectories`) has the components ``u:level``
and ``u:slope`` per treatment unit; the effect of an arm at month ``t`` is the sum over its
units of ``level + f(t) slope`` (plus, for a bundled arm, its interaction at that month,
known only at the months the bundle was measured). These tables are computed from the
posterior draws (``mu`` pooled, ``beta`` per municipality) with the one interval summary of
the package (:func:`bayes_bijstand.summaries.describe`), so a reader needs no model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .constants import CI_KIND, CI_PROB, DIM_COMPONENT, DIM_GEMEENTE
from .evidence.grades import components_of
from .models.trajectories import LEVEL, SLOPE, basis, pseudo_arm
from .summaries import describe

POOLED = "pooled"
"""The ``gemeente`` value of a pooled row."""


def _stack(da: xr.DataArray) -> np.ndarray:
    return da.stack(sample=("chain", "draw")).transpose(..., "sample").values


def _units(arm: str, components: list[str]) -> list[str]:
    """The trajectory units of an arm: itself (``meta_arms``) or its components."""
    return [arm] if f"{arm}:{LEVEL}" in components else components_of(arm)


def _weights(arm: str, month: float, components: list[str]) -> np.ndarray | None:
    w = np.zeros(len(components))
    for u in _units(arm, components):
        lv, sl = f"{u}:{LEVEL}", f"{u}:{SLOPE}"
        if lv not in components or sl not in components:
            return None
        w[components.index(lv)] = 1.0
        w[components.index(sl)] = float(basis(month))
    return w


def _is_bundle(arm: str, components: list[str]) -> bool:
    return f"{arm}:{LEVEL}" not in components and len(components_of(arm)) > 1


def months_grid(table: pd.DataFrame) -> list[float]:
    """The post-baseline months of the used rows of a trajectory table (all municipalities)."""
    used = table[table["used"].astype(bool)]
    m = pd.to_numeric(used["months"], errors="coerce")
    return sorted({float(x) for x in m.dropna() if x > 0})


def trajectory_tables(post: xr.Dataset, table: pd.DataFrame, outcome: str, *,
                      ci_prob: float = CI_PROB) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(effects by month, change from the first to the last month) of one trajectory fit.

    ``effects``: per arm and month of the grid (:func:`months_grid`), the pooled effect
    (``gemeente`` = ``pooled``, from ``mu``) and each municipality's effect for the arms it
    tested (from ``beta``), with ``observed`` (rows of that arm at that month: any
    municipality for the pooled row, its own for a municipality) and ``n_rows``. A bundled
    arm appears only at the months it was measured (its interaction at another month is not
    estimated). ``changes``: the effect at the last month of the grid minus the effect at
    the first, with ``prob_late_gt_early`` = P(effect at the last month > at the first).
    """
    comps = [str(c) for c in post["mu" if "mu" in post else "beta"].coords[DIM_COMPONENT].values]
    gammas = ({str(b): i for i, b in enumerate(post["gamma"].coords["bundle"].values)}
              if "gamma" in post else {})
    gamma = _stack(post["gamma"]) if "gamma" in post else None
    mu = _stack(post["mu"]) if "mu" in post else None
    beta = _stack(post["beta"])
    gem = [str(g) for g in post["beta"].coords[DIM_GEMEENTE].values]
    used = table[table["used"].astype(bool)].copy()
    used["m"] = pd.to_numeric(used["months"], errors="coerce")
    post_rows = used[used["m"] > 0]
    grid = months_grid(table)
    arms = list(dict.fromkeys(str(a) for a in post_rows["arm"]))

    def effect(draws: np.ndarray, arm: str, month: float) -> np.ndarray | None:
        w = _weights(arm, month, comps)
        if w is None:
            return None
        x = w @ draws
        if _is_bundle(arm, comps):
            key = pseudo_arm(arm, month)
            if gamma is None or key not in gammas:
                return None
            x = x + gamma[gammas[key]]
        return x

    eff: list[dict[str, object]] = []
    chg: list[dict[str, object]] = []
    levels: list[tuple[str, np.ndarray, pd.DataFrame]] = []
    if mu is not None:
        levels.append((POOLED, mu, post_rows))
    for gi, g in enumerate(gem):
        levels.append((g, beta[gi], post_rows[post_rows["gemeente"] == g]))
    for g, draws, rows in levels:
        for arm in arms if g == POOLED else list(dict.fromkeys(str(x) for x in rows["arm"])):
            by_month: dict[float, np.ndarray] = {}
            for m in grid:
                x = effect(draws, arm, m)
                if x is None:
                    continue
                by_month[m] = x
                n = int(((rows["arm"] == arm) & (rows["m"] == m)).sum())
                eff.append({"outcome": outcome, "gemeente": g, "arm": arm, "month": m,
                            "observed": n > 0, "n_rows": n,
                            **describe(x, ci_prob=ci_prob), "ci_prob": ci_prob, "ci_kind": CI_KIND})
            if len(grid) >= 2 and grid[0] in by_month and grid[-1] in by_month:
                d = by_month[grid[-1]] - by_month[grid[0]]
                s = describe(d, ci_prob=ci_prob)
                chg.append({"outcome": outcome, "gemeente": g, "arm": arm,
                            "month_early": grid[0], "month_late": grid[-1],
                            "mean": s["mean"], "sd": s["sd"], "ci_low": s["ci_low"],
                            "ci_high": s["ci_high"], "prob_late_gt_early": s["prob_gt_0"],
                            "ci_prob": ci_prob, "ci_kind": CI_KIND})
    return pd.DataFrame(eff), pd.DataFrame(chg)


def baseline_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The month-0 rows a trajectory fit used, per municipality and comparison (the anchor)."""
    used = table[table["used"].astype(bool)]
    m = pd.to_numeric(used["months"], errors="coerce")
    base = used[m == 0]
    if base.empty:
        return pd.DataFrame(columns=["gemeente", "comparison", "n_rows", "bias_term"])
    bias = base["bias_term"] if "bias_term" in base else pd.Series("", index=base.index)
    return (base.assign(bias_term=bias.fillna("").astype(str))
            .groupby(["gemeente", "comparison", "bias_term"], as_index=False).size()
            .rename(columns={"size": "n_rows"}))


__all__ = ["POOLED", "months_grid", "trajectory_tables", "baseline_rows"]
