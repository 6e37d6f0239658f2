"""A finished fit's figures: drawn here, or in a separate process while the next fit samples."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any, Protocol

from ..constants import FIGURE_FORMATS

log = logging.getLogger(__name__)


class FigureJob(Protocol):
    """What drawing a job's figures needs (a :class:`~bayes_bijstand.run.job.Started`)."""

    result: Any  # the MetaResult
    figure_dir: Path | None
    formats: tuple[str, ...]


def draw_figures(result: Any, figure_dir: Path,
                 formats: tuple[str, ...] = FIGURE_FORMATS) -> list[Path]:
    """The figures of one fitted outcome (``[]`` where plotting is not installed).

    Every figure of a fit that failed the diagnostics gate; for a fit that passed, all but
    the sampler diagnostics (:data:`~bayes_bijstand.plots.SAMPLER_DIAGNOSTICS`: rank, trace,
    energy), which the gate's numbers already summarise. They were a third of the drawing
    time (about 4 of 11.6 s of CPU per fit) and are drawn on request from the stored fit:
    ``python -m bayes_bijstand.plots fits/<outcome>.nc --only rank trace energy``.
    """
    try:
        from ..plots import FIGURES, SAMPLER_DIAGNOSTICS, make_figures
    except ImportError:
        return []
    passed = bool(getattr(getattr(result, "diagnostics", None), "passed", False))
    only = tuple(k for k in FIGURES if k not in SAMPLER_DIAGNOSTICS) if passed else None
    paths = make_figures(result, figure_dir, formats=formats, only=only)
    from ..report.images import warm_light_cache

    warm_light_cache(paths)  # the report's light copies, encoded here beside the sampler
    return paths


def _die_with_parent() -> None:
    """Initializer of the figure process: it dies with the process that started it.

    Without this a SIGKILLed or SIGTERMed run left its figure worker running as an orphan
    (275 MB, still writing PNGs into ``--out``) that also held the caller's stdout/stderr
    pipes open, so a harness waiting for them hung. ``PR_SET_PDEATHSIG`` (Linux) makes the
    kernel send SIGKILL to the worker when its parent dies; the worker's stdin and stdout are
    not needed and are detached from the caller's right away.
    """
    import ctypes
    import os
    import signal
    import sys

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the worker
    # SIGINT from the terminal reaches the whole process group: the parent decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _warm_figure_worker() -> None:
    """Import the plotting stack in a figure worker (while the main process compiles)."""
    with contextlib.suppress(ImportError):
        from .. import meta, plots  # noqa: F401


class FigureProcess:
    """Draws the figures of finished fits in one separate process while the next fit samples.

    Matplotlib is single-threaded and a fit's figures take longer than its sampling, so on
    a machine with at least two CPUs drawing them beside the sampler shortens the run (a
    second figure process gave the same wall time on 2 cores for 8% more CPU). After the
    last fit the main process takes back the figures still queued (the local executor's
    drain, :meth:`take_back` and :meth:`draw_here`). The process is started with ``spawn``
    (the sampler's threads make ``fork`` unsafe) and imports the plotting stack right away,
    while the main process compiles the model. If it cannot be started or dies, the figures
    are drawn in this process instead: the run gets the same files either way.
    """

    def __init__(self, enabled: bool) -> None:
        self._pool: Any = None
        if enabled:
            import concurrent.futures as cf
            import multiprocessing as mp

            try:
                self._pool = cf.ProcessPoolExecutor(max_workers=1,
                                                    mp_context=mp.get_context("spawn"),
                                                    initializer=_die_with_parent)
                self._pool.submit(_warm_figure_worker)
            except (OSError, ValueError) as exc:  # pragma: no cover - no processes allowed
                log.warning("figures drawn in the main process (%s)", exc)
                self._pool = None

    @staticmethod
    def draw_here(started: FigureJob) -> list[Path]:
        """Draw a job's figures in this process."""
        assert started.figure_dir is not None
        return draw_figures(started.result, started.figure_dir, started.formats)

    def submit(self, started: FigureJob) -> Any:
        """A future of the figure paths (or the paths themselves, drawn here)."""
        if self._pool is not None:
            try:
                return self._pool.submit(draw_figures, started.result, started.figure_dir,
                                         started.formats)
            except Exception as exc:  # noqa: BLE001 - broken pool or unpicklable result
                log.warning("figure process unavailable (%s); drawing here", exc)
                self.close()
        return self.draw_here(started)

    def take_back(self, pending: Any) -> bool:
        """Cancel a figure job the worker has not started; True: the caller draws it."""
        return not isinstance(pending, list) and pending.cancel()

    def result(self, started: FigureJob, pending: Any) -> list[Path]:
        """The figure paths of ``pending`` (drawn here if the worker failed)."""
        if isinstance(pending, list):
            return pending
        try:
            return list(pending.result())
        except Exception as exc:  # noqa: BLE001 - the worker died: draw them here
            log.warning("figure process failed (%s: %s); drawing here", type(exc).__name__, exc)
            self.close()
            return self.draw_here(started)

    def close(self) -> None:
        """Stop the figure process (queued figures are cancelled)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> FigureProcess:
        return self

    def kill(self) -> None:
        """Stop the figure process now (interrupt, SIGTERM, error): no waiting for a figure."""
        if self._pool is not None:
            procs = list(getattr(self._pool, "_processes", {}).values())
            for proc in procs:
                with contextlib.suppress(Exception):
                    proc.kill()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is not None:
            self.kill()
        else:
            self.close()
