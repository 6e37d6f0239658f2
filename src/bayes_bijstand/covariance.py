"""Within-study correlation of published estimates (like metafor's ``vcalc``).

Two estimates from one study are correlated when they share a group of persons: arms
compared with one control group, or the same arm compared at several time points. With a
common per-person outcome variance, the covariance of contrasts (A - B) and (C - D) is

    sigma^2 * ( [A=C]/n_A - [A=D]/n_A - [B=C]/n_B + [B=D]/n_B ),

so the correlation follows from the group sizes alone. Repeated measurements of the same
persons at months m and m' add an AR(1) factor ``rho_months ** (|m - m'| / 8)`` (8 months
is the reports' wave spacing); this factor is an assumption, set in the model spec.
Plain numpy, checkable by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["contrast_correlation"]


def contrast_correlation(
    table: pd.DataFrame,
    *,
    rho_months: float = 0.6,
    treated_key: str = "arm",
    comparator_key: str = "comparator",
) -> np.ndarray:
    """Correlation matrix of the contrasts in ``table`` (one row per estimate).

    Required columns: ``gemeente``, ``treated_key``, ``comparator_key``, ``n_t``, ``n_c``,
    ``months``. Rows of different gemeenten are independent. Rows with unknown group
    sizes are treated as independent of all others (correlation 0), which is the
    conservative choice for the between-row information they share.
    """
    k = len(table)
    R = np.eye(k)
    g = table["gemeente"].to_numpy()
    a = table[treated_key].to_numpy()
    c = table[comparator_key].to_numpy()
    nt = table["n_t"].to_numpy(dtype=float)
    nc = table["n_c"].to_numpy(dtype=float)
    m = pd.to_numeric(table["months"], errors="coerce").to_numpy(dtype=float)
    # Only pairs within one gemeente can be correlated: the work is linear in rows for
    # many gemeenten with a few rows each.
    groups: dict[object, list[int]] = {}
    for i, gi in enumerate(g):
        groups.setdefault(gi, []).append(i)
    pairs = ((i, j) for idx in groups.values() for n_, i in enumerate(idx) for j in idx[n_ + 1:])
    for i, j in pairs:
        if not np.all(np.isfinite([nt[i], nc[i], nt[j], nc[j]])):
            continue
        cov = 0.0
        cov += (a[i] == a[j]) / nt[i]
        cov -= (a[i] == c[j]) / nt[i]
        cov -= (c[i] == a[j]) / nc[i]
        cov += (c[i] == c[j]) / nc[i]
        var_i = 1 / nt[i] + 1 / nc[i]
        var_j = 1 / nt[j] + 1 / nc[j]
        r = cov / np.sqrt(var_i * var_j)
        if np.isfinite(m[i]) and np.isfinite(m[j]) and m[i] != m[j]:
            r *= rho_months ** (abs(m[i] - m[j]) / 8.0)
        R[i, j] = R[j, i] = float(np.clip(r, -0.99, 0.99))
    return R
