"""Figures of one fitted outcome: ``make_figures(result, outdir) -> list[Path]``.

Every plot lives in its own module and is a pure function ``plot_x(*, result, ...) ->
Figure`` that never writes files; :func:`make_figures` draws them all, writes each as PNG
(for the HTML report) and, on request, SVG (for print and slides) atomically, and closes
them. A figure that fails to draw is logged and skipped so one broken diagnostic never
costs the run its key figures; the returned list says which files exist.

Figures (file stems): ``forest`` (the key figure), ``probability``, ``pooling``,
``prior_posterior``, ``ppc``, ``influence``, ``sensitivity``, ``funnel``, ``rank``,
``trace``, ``energy``.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..constants import FIGURE_FORMATS
from . import _style  # noqa: F401  (forces the Agg backend before anything draws)
from .diagnostic import plot_energy, plot_funnel, plot_rank, plot_trace
from .forest import forest_table, plot_forest
from .influence import bayes_loo_table, freq_loo_table, plot_influence
from .pooling import plot_pooling
from .ppc import plot_ppc, ppc_table
from .prior_posterior import plot_prior_posterior
from .probability import plot_probability, probability_table
from .sensitivity import plot_sensitivity, sensitivity_table

log = logging.getLogger(__name__)

FIGURES: dict[str, Callable[..., Any]] = {
    "forest": plot_forest,
    "probability": plot_probability,
    "pooling": plot_pooling,
    "prior_posterior": plot_prior_posterior,
    "ppc": plot_ppc,
    "influence": plot_influence,
    "sensitivity": plot_sensitivity,
    "funnel": plot_funnel,
    "rank": plot_rank,
    "trace": plot_trace,
    "energy": plot_energy,
}
"""File stem -> plot function, in the order the report shows them."""

SAMPLER_DIAGNOSTICS: tuple[str, ...] = ("rank", "trace", "energy")
"""Figures of the sampler's behaviour; the main job draws them only for a fit that failed
the diagnostics gate (``python -m bayes_bijstand.plots`` draws them for any stored fit)."""

FORMATS: tuple[str, ...] = ("png", "svg")
"""Every format :func:`make_figures` can write (PNG first: the report embeds it)."""

DEFAULT_FORMATS: tuple[str, ...] = FIGURE_FORMATS
"""The run's default, :data:`bayes_bijstand.constants.FIGURE_FORMATS` (PNG only)."""

__all__ = [
    "FIGURES", "SAMPLER_DIAGNOSTICS", "FORMATS", "DEFAULT_FORMATS", "make_figures", "save_figure", "forest_table", "probability_table",
    "ppc_table", "bayes_loo_table", "freq_loo_table", "sensitivity_table", "plot_forest",
    "plot_probability", "plot_pooling", "plot_prior_posterior", "plot_ppc", "plot_influence",
    "plot_sensitivity", "plot_funnel", "plot_rank", "plot_trace", "plot_energy",
]


def save_figure(fig: Any, path: Path) -> Path:
    """Write ``fig`` to ``path`` atomically (temp file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        with _style.style():
            fig.savefig(tmp, format=path.suffix.lstrip("."), dpi=150,
                        metadata={"Date": None} if path.suffix == ".svg" else None)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def make_figures(result: Any, outdir: str | os.PathLike[str], *,
                 only: tuple[str, ...] | None = None,
                 formats: tuple[str, ...] = DEFAULT_FORMATS) -> list[Path]:
    """Draw every figure of one fitted outcome into ``outdir``, once per format.

    ``result`` is a :class:`bayes_bijstand.meta.MetaResult` or the path of one written by
    its ``to_netcdf`` (read with ``MetaResult.from_netcdf``); ``only`` restricts to some
    figure stems; ``formats`` is a subset of :data:`FORMATS` (default PNG only). Returns
    the written paths (per figure in the order of ``formats``, in :data:`FIGURES` order).
    """
    if isinstance(result, (str, os.PathLike)):
        from ..meta import MetaResult

        result = MetaResult.from_netcdf(result)
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ValueError(f"figure formats must be among {FORMATS}, got {formats}")
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, fn in FIGURES.items():
        if only is not None and name not in only:
            continue
        try:
            fig = fn(result=result)
        except Exception as exc:  # noqa: BLE001 - one failing figure must not stop the rest
            log.warning("figure %s of %s failed: %s: %s", name, result.outcome,
                        type(exc).__name__, exc)
            continue
        try:
            for i, ext in enumerate(formats):
                written.append(save_figure(fig, out / f"{name}.{ext}"))
                if i == 0:
                    # The first save solved the constrained layout; keep it for the other
                    # formats instead of solving it again (a third of the drawing time).
                    fig.set_layout_engine("none")
        except Exception as exc:  # noqa: BLE001 - e.g. mathtext in a label fails at savefig
            log.warning("figure %s of %s could not be saved: %s: %s", name, result.outcome,
                        type(exc).__name__, " ".join(str(exc).split())[:200])
        finally:
            fig.clf()
    return written
