"""Helpers for the frequentist tests: reference-case loader and metafor's tolerance rule."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REF_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "reference_cases"


def load_case(name: str) -> Any:
    """Load ``<name>.json`` from the shared reference cases, skipping if unavailable."""
    path = REF_DIR / f"{name}.json"
    if not path.exists():
        pytest.skip(f"reference case {path} not available")
    return json.loads(path.read_text())


def all_equal(current: Sequence[float] | float, target: Sequence[float] | float,
              tolerance: float) -> bool:
    """R's ``all.equal`` numeric rule as used by metafor's ``expect_equivalent``.

    Mean absolute difference relative to mean |target| (absolute when mean |target| <= tol).
    """
    c = np.atleast_1d(np.asarray(current, dtype=float))
    t = np.atleast_1d(np.asarray(target, dtype=float))
    assert c.shape == t.shape, (c.shape, t.shape)
    xy = float(np.mean(np.abs(t - c)))
    xn = float(np.mean(np.abs(t)))
    if np.isfinite(xn) and xn > tolerance:
        xy /= xn
    return xy <= tolerance


def bcg_logrr(data: dict[str, list[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Log risk ratios and variances of the BCG trials (escalc measure='RR')."""
    from bayes_bijstand.frequentist.effects import escalc

    es = escalc("RR", ai=data["tpos"], bi=data["tneg"], ci=data["cpos"], di=data["cneg"])
    return es.yi, es.vi
