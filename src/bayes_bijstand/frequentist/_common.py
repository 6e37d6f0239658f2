"""Shared helpers for the frequentist meta-analysis code.

Why a separate module: the univariate (:mod:`.meta`), multivariate (:mod:`.multivariate`) and
effect-size (:mod:`.effects`) modules all validate plain array input the same way, report
problems with the same exception class and build the same tidy summary frame
(``estimate, se, ci_low, ci_high, ci_prob, method`` plus extras), so that downstream report
code can stack results from different estimators without special cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import special

from bayes_bijstand.errors import BayesBijstandError

FloatArray = NDArray[np.float64]

SUMMARY_COLUMNS: tuple[str, ...] = ("estimate", "se", "ci_low", "ci_high", "ci_prob", "method")


class MetaAnalysisError(BayesBijstandError, ValueError):
    """Invalid input to (or an impossible fit of) a frequentist meta-analysis model.

    Subclasses :class:`ValueError` so that callers that only know about the standard library
    still catch it; subclasses :class:`BayesBijstandError` so the CLI reports it in one line.
    """


def as_1d(name: str, x: ArrayLike, *, finite: bool = True) -> FloatArray:
    """Convert ``x`` to a 1-d float array, failing with a message naming ``name``.

    Why: every public function takes plain array-likes; converting in one place gives
    uniform, actionable errors (wrong shape, NaN) instead of numpy broadcasting surprises.
    """
    arr = np.asarray(x, dtype=float)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise MetaAnalysisError(f"'{name}' must be one-dimensional, got shape {arr.shape}")
    if finite and not np.all(np.isfinite(arr)):
        raise MetaAnalysisError(f"'{name}' contains missing or non-finite values")
    return arr


def as_2d(name: str, x: ArrayLike, nrow: int) -> FloatArray:
    """Convert ``x`` to a 2-d float array with ``nrow`` rows (a 1-d input becomes one column)."""
    arr = np.asarray(x, dtype=float)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2 or arr.shape[0] != nrow:
        raise MetaAnalysisError(
            f"'{name}' must have {nrow} rows (one per estimate), got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise MetaAnalysisError(f"'{name}' contains missing or non-finite values")
    return arr


def check_level(level: float) -> float:
    """Validate a confidence level given as a probability in (0, 1)."""
    level = float(level)
    if not 0.0 < level < 1.0:
        raise MetaAnalysisError(f"'level' must be a probability in (0, 1), got {level}")
    return level


def critical_value(level: float, df: float | None) -> float:
    """Two-sided critical value: normal quantile, or Student-t with ``df`` if given."""
    q = 0.5 + level / 2.0
    # scipy.special directly (what scipy.stats calls underneath, bit for bit) avoids ~0.1 ms
    # of distribution-object overhead per call, which dominates a fit at small k
    if df is None:
        return float(special.ndtri(q))
    if df <= 0:
        return float("nan")
    return float(special.stdtrit(df, q))


def two_sided_p(stat: FloatArray | float, df: float | None) -> FloatArray:
    """Two-sided p-value of a z (``df is None``) or t statistic."""
    s = np.abs(np.asarray(stat, dtype=float))
    if df is None:
        return np.asarray(2.0 * special.ndtr(-s), dtype=float)
    if df <= 0:
        return np.full_like(s, np.nan)
    return np.asarray(2.0 * special.stdtr(df, -s), dtype=float)


def coef_names(names: Sequence[str] | None, p: int, default: Sequence[str]) -> tuple[str, ...]:
    """Return ``names`` (checked to have length ``p``) or ``default``."""
    if names is None:
        return tuple(default)
    out = tuple(str(n) for n in names)
    if len(out) != p:
        raise MetaAnalysisError(f"expected {p} coefficient names, got {len(out)}")
    return out


def summary_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Tidy frame with the standard columns first, extras after, one row per parameter."""
    df = pd.DataFrame(rows)
    for col in SUMMARY_COLUMNS:
        if col not in df.columns:
            df[col] = np.nan
    extras = [c for c in df.columns if c not in SUMMARY_COLUMNS]
    return df[list(SUMMARY_COLUMNS) + extras].reset_index(drop=True)


def wls_projection(X: FloatArray, w: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return ``(P, (X'WX)^-1)`` with ``P = W - W X (X'W X)^-1 X'W`` for diagonal ``W = diag(w)``.

    ``P`` is the residual-forming matrix of weighted least squares that appears in every
    moment and likelihood equation for tau² (metafor calls it ``P`` too).
    """
    WX = X * w[:, None]
    xtwx = X.T @ WX
    inv = np.linalg.inv(xtwx)
    P = np.diag(w) - WX @ inv @ WX.T
    return P, inv
