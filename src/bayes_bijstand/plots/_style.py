"""Shared look and helpers of every figure: one style, one palette, one way to label things.

Figures are drawn on the non-interactive Agg backend (they are files for reports, never
windows) and created as :class:`matplotlib.figure.Figure` objects, so no function touches
pyplot's global state. Effects are stored on the model scale (risk difference 0-1 for binary
outcomes, SMD for scores); every plot multiplies by ``result.display_factor`` so people read
percentage points or SDs, and every axis label says which.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg", force=True)

from matplotlib.figure import Figure  # noqa: E402

from ..checks._draws import draws, weighted_quantile  # noqa: F401 - re-exported for the plots
from ..evidence.grade_registry import REGISTRY as GRADE_REGISTRY  # noqa: E402

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
COLORS: dict[str, str] = {
    "published": "#7f7f7f",
    "shrunken": "#0072B2",
    "pooled": "#D55E00",
    "predictive": "#E69F00",
    "prior": "#999999",
    "posterior": "#0072B2",
    "divergent": "#CC0000",
    "mid": "#009E73",
    "frequentist": "#555555",
    "gt0": "#56B4E9",
    "gtmid": "#009E73",
    "new": "#E69F00",
}

# One marker per evidence grade: the strength of the number a row was built from.
GRADE_MARKERS: dict[str, str] = {g.name: g.marker for g in GRADE_REGISTRY}
GRADE_LABELS: dict[str, str] = {g.name: g.label for g in GRADE_REGISTRY}

RC: dict[str, Any] = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 8.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "grid.linewidth": 0.6,
    "svg.fonttype": "none",  # text stays text in SVG: searchable, small
    "svg.hashsalt": "bayes_bijstand",  # deterministic SVG ids
    "figure.dpi": 100,
    "savefig.dpi": 150,
}

_SPECIAL_NAMES = {"tno": "TNO", "apeldoorn_epe": "Apeldoorn/Epe", "oss": "Oss"}


@contextmanager
def style() -> Iterator[None]:
    """Apply the package's rc settings for the duration of one figure."""
    with matplotlib.rc_context(RC):
        yield


def new_figure(width: float, height: float) -> Figure:
    """A pyplot-free Figure (no global registry, nothing to leak between calls)."""
    return Figure(figsize=(width, height), layout="constrained")


MAX_ROWS = 60
"""Most rows one panel draws. A user file with more municipalities (hundreds) would give a
figure hundreds of inches tall that no one can read (and no image format can hold): above
this the figure draws :func:`thin_rows` of them and says so; every row stays in the tables."""


def thin_rows(values: Any, cap: int = MAX_ROWS) -> np.ndarray | None:
    """Positions of the rows a figure draws when there are more than ``cap``: ``cap`` rows
    evenly spaced in the order of ``values`` (the smallest and the largest included), in
    that order. ``None`` when all rows fit (the figure draws them as before)."""
    v = np.asarray(values, dtype=float)
    if len(v) <= cap:
        return None
    order = np.argsort(np.where(np.isfinite(v), v, np.inf), kind="stable")
    return order[np.unique(np.round(np.linspace(0, len(v) - 1, cap)).astype(int))]


def thinned_note(shown: int, total: int, by: str) -> str:
    """The panel note of a thinned figure, e.g. ``60 of 1,000 municipalities, evenly spaced
    by ...``: the drawn rows run from the smallest to the largest of that quantity."""
    return f"{shown} of {total:,} municipalities, evenly spaced by {by} (all in the tables)"


def gemeente_name(code: str) -> str:
    """Display name of a municipality code: ``apeldoorn_epe`` -> ``Apeldoorn/Epe``."""
    c = str(code)
    if c in _SPECIAL_NAMES:
        return _SPECIAL_NAMES[c]
    return " ".join(part.capitalize() for part in c.replace("_", " ").split())


def arm_name(code: str) -> str:
    """Display name of an arm: ``zelf_in_actie+werken_loont`` -> ``zelf in actie + werken loont``."""
    return " + ".join(p.replace("_", " ") for p in str(code).split("+"))


def outcome_title(result: Any) -> str:
    """``Dutch label (English label)`` of the result's outcome, for figure titles."""
    from ..evidence.outcomes import outcome_label

    en, nl = outcome_label(result.outcome)
    return nl if nl == en else f"{nl} ({en})"


def effect_label(result: Any, what: str = "Effect") -> str:
    """Axis label with the display unit, e.g. ``Effect (percentage points)``."""
    return f"{what} ({result.unit})"


def level_text(result: Any) -> str:
    """The result's interval level as figure text, e.g. ``90%`` (``fit --ci-prob``)."""
    return f"{100 * float(getattr(result, 'ci_prob', 0.9)):g}%"


def status_note(result: Any) -> str:
    """A short suffix that warns when the fit failed the diagnostics gate."""
    return "" if result.diagnostics.passed else "  [FAILED DIAGNOSTICS: not for reporting]"


def coord(tree: Any, group: str, name: str, dim: str) -> list[str]:
    """Labels of dimension ``dim`` of variable ``name`` in ``group`` (empty if absent)."""
    try:
        ds = tree[group].to_dataset()
    except KeyError:
        return []
    if name not in ds.data_vars or dim not in ds[name].dims:
        return []
    return [str(v) for v in ds[name].coords[dim].values]


def set_title(fig: Figure, result: Any, what: str) -> None:
    """Figure title: the outcome in Dutch (English), what is shown, and a failure warning."""
    lines = [outcome_title(result), what]
    if not result.diagnostics.passed:
        lines.append("FAILED DIAGNOSTICS - exploratory only, not for reporting")
    fig.suptitle("\n".join(lines), fontsize=11.5, fontweight="bold",
                 color="black" if result.diagnostics.passed else "#B00000")


def no_data(fig: Figure, message: str) -> Figure:
    """Turn ``fig`` into a labelled placeholder when there is nothing to draw."""
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize=11)
    return fig
