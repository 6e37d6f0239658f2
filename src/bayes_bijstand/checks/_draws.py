"""Draws from a fit's DataTree, and importance-weighted quantiles (shared by checks and plots)."""

from __future__ import annotations

from typing import Any

import numpy as np


def draws(tree: Any, group: str, name: str) -> np.ndarray | None:
    """Draws of ``name`` in ``group`` with the sample dims stacked last, or None if absent."""
    try:
        ds = tree[group].to_dataset()
    except KeyError:
        return None
    if name not in ds.data_vars:
        return None
    da = ds[name]
    return da.stack(sample=("chain", "draw")).transpose(..., "sample").values


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: np.ndarray | list[float]) -> np.ndarray:
    """Quantiles of draws ``x`` under normalised importance weights ``w``."""
    order = np.argsort(x)
    xs, ws = x[order], w[order]
    cw = np.cumsum(ws)
    cw = (cw - 0.5 * ws) / cw[-1]
    return np.interp(np.asarray(q, dtype=float), cw, xs)
