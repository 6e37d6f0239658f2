"""Running the jobs of a plan: locally (figures beside the sampler) or on Dask.

Both executors return the job records in plan order, so the run-level outputs
(``summary.json``, tables) do not depend on the executor.

**Local** (default): jobs run one after another; the figures of a finished fit are drawn in
a separate process while the next fit samples (:class:`~.figures.FigureProcess`).

**Dask** (``fit --executor dask``): each job is a pure function of the evidence table, the
spec and the output directory and writes its own files atomically, so jobs can run anywhere
that sees the output directory (a shared filesystem on a real cluster). Without
``--scheduler`` a :class:`distributed.LocalCluster` with ``--workers`` single-threaded
workers is started and closed again. On a real cluster (see ``docs/reliability.md``)::

    dask-scheduler                                   # on the head node, port 8786
    dask-worker tcp://HEAD:8786 --nworkers 4 --nthreads 1   # on each machine
    python -m bayes_bijstand.fit --all-gemeenten --executor dask \\
        --scheduler tcp://HEAD:8786 --out /shared/posterior
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from ..errors import BayesBijstandError
from .config import Progress, RunConfig
from .figures import FigureProcess
from .job import Started, available_cores, finish_job, run_job, start_job
from .plan import Plan
from .records import FitRecord

DASK_RETRIES = 2
"""How often a Dask job is resubmitted after its worker died (or it raised)."""


def execute(plan: Plan, cfg: RunConfig, progress: Progress, client: Any = None) -> list[FitRecord]:
    """Run every job of ``plan`` with the executor ``cfg`` names; records in plan order."""
    if cfg.executor == "dask":
        return run_on_dask(plan, cfg, progress, client=client)
    return run_locally(plan, cfg, progress)


def run_locally(plan: Plan, cfg: RunConfig, progress: Progress) -> list[FitRecord]:
    """Fit the jobs one after another in this process, figures in a second process."""
    out = cfg.out
    records: list[FitRecord | None] = [None] * len(plan.jobs)
    pending: list[tuple[int, Started, Any]] = []
    parallel = bool(cfg.plots) and available_cores() >= 2 and \
        any(j.role == "main" for j in plan.jobs)
    with FigureProcess(parallel) as figs:
        for i, job in enumerate(plan.jobs):
            progress.set_postfix_str(job.name)
            st = start_job(job, plan.evidence, plan.spec, out, plots=cfg.plots,
                           resume=cfg.resume, inputs=plan.inputs, formats=cfg.figure_formats,
                           ci_prob=cfg.ci_prob)
            if st.figure_dir is None:
                records[i] = finish_job(st, out, [])
            else:
                pending.append((i, st, figs.submit(st)))
            progress.update(1)
            # Records of fits whose figures are done are written now, not at the end, so an
            # interrupted run keeps (and resumes past) them.
            still = []
            for i2, st2, fut in pending:
                if isinstance(fut, list) or fut.done():
                    records[i2] = finish_job(st2, out, figs.result(st2, fut))
                else:
                    still.append((i2, st2, fut))
            pending = still
        # Drain: after the last fit this process is free, so it draws the figures still
        # queued itself, from the back of the queue, while the worker finishes the front.
        waiting = []
        for i, st, fut in reversed(pending):
            if figs.take_back(fut):
                records[i] = finish_job(st, out, figs.draw_here(st))
            else:
                waiting.append((i, st, fut))
        for i, st, fut in reversed(waiting):
            records[i] = finish_job(st, out, figs.result(st, fut))
    return [r for r in records if r is not None]


@contextlib.contextmanager
def dask_client(cfg: RunConfig) -> Iterator[Any]:
    """A connected :class:`distributed.Client`: to ``cfg.scheduler`` or a LocalCluster.

    An unreachable scheduler is a :class:`BayesBijstandError` (one line, exit code 2), raised
    before anything is written.
    """
    from distributed import Client, LocalCluster

    # Dask logs every connection and shutdown step at INFO; users need warnings only.
    dlog = logging.getLogger("distributed")
    level = dlog.level
    dlog.setLevel(max(level, logging.WARNING))
    try:
        with _client(cfg, Client, LocalCluster) as client:
            yield client
    finally:
        dlog.setLevel(level)


@contextlib.contextmanager
def _client(cfg: RunConfig, Client: Any, LocalCluster: Any) -> Iterator[Any]:  # noqa: N803
    cluster = None
    if cfg.scheduler:
        try:
            client = Client(cfg.scheduler)
        except (OSError, TimeoutError, ValueError) as exc:
            msg = " ".join(str(exc).split())
            raise BayesBijstandError(f"--scheduler {cfg.scheduler}: cannot connect to the Dask "
                                     f"scheduler ({msg})") from None
    else:
        cluster = LocalCluster(n_workers=max(1, int(cfg.workers)), threads_per_worker=1,
                               processes=True, dashboard_address=None,
                               silence_logs=logging.WARNING)
        client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_on_dask(plan: Plan, cfg: RunConfig, progress: Progress, *,
                client: Any = None) -> list[FitRecord]:
    """Submit every job of ``plan`` to Dask and collect the job records in plan order."""
    if client is None:
        with dask_client(cfg) as c:
            return run_on_dask(plan, cfg, progress, client=c)
    from distributed import as_completed

    # The evidence travels with each task (it is small: the shipped table is under 1 MB)
    # instead of being scattered once: scattered data lives on the workers that hold it, and
    # losing the only one (FutureCancelledError) killed the run. Each task is retried on
    # another worker if its worker dies; a retried job resumes from what it wrote.
    futures = {client.submit(run_job, job, plan.evidence, plan.spec, cfg.out, plots=cfg.plots,
                             resume=cfg.resume, inputs=plan.inputs, cores=1,
                             formats=cfg.figure_formats, ci_prob=cfg.ci_prob, pure=False,
                             retries=DASK_RETRIES): i
               for i, job in enumerate(plan.jobs)}
    records: list[FitRecord | None] = [None] * len(plan.jobs)
    try:
        for fut in as_completed(futures):
            i = futures[fut]
            records[i] = fut.result()
            progress.set_postfix_str(plan.jobs[i].name)
            progress.update(1)
    except BaseException:
        client.cancel(list(futures))
        raise
    missing = [plan.jobs[i].name for i, r in enumerate(records) if r is None]
    if missing:  # pragma: no cover - as_completed yields every future
        raise BayesBijstandError(f"Dask returned no result for: {', '.join(missing)}")
    return [r for r in records if r is not None]
