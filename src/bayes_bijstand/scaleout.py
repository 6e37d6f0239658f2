"""Running the independent fits of a run on Dask (``fit --executor dask``).

Each job (outcome x pooling mode x evidence-grade subset) is a pure function of the evidence
table, the spec and the output directory, and writes its own files atomically, so jobs can
run anywhere that sees the output directory (a shared filesystem on a real cluster). Without
``--scheduler`` a :class:`distributed.LocalCluster` with ``--workers`` single-threaded
workers is started and closed again. Records come back in plan order, so the run-level
outputs (``summary.json``, tables) are the same as with the local executor.

On a real cluster (see ``docs/reliability.md``)::

    dask-scheduler                                   # on the head node, port 8786
    dask-worker tcp://HEAD:8786 --nworkers 4 --nthreads 1   # on each machine
    python -m bayes_bijstand.fit --all-gemeenten --executor dask \\
        --scheduler tcp://HEAD:8786 --out /shared/posterior
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import BayesBijstandError


@contextlib.contextmanager
def dask_client(opts: Any) -> Iterator[Any]:
    """A connected :class:`distributed.Client`: to ``opts.scheduler`` or a LocalCluster.

    An unreachable scheduler is a :class:`BayesBijstandError` (one line, exit code 2), raised
    before anything is written.
    """
    from distributed import Client, LocalCluster

    # Dask logs every connection and shutdown step at INFO; users need warnings only.
    dlog = logging.getLogger("distributed")
    level = dlog.level
    dlog.setLevel(max(level, logging.WARNING))
    try:
        with _client(opts, Client, LocalCluster) as client:
            yield client
    finally:
        dlog.setLevel(level)


@contextlib.contextmanager
def _client(opts: Any, Client: Any, LocalCluster: Any) -> Iterator[Any]:  # noqa: N803
    cluster = None
    if getattr(opts, "scheduler", None):
        try:
            client = Client(opts.scheduler)
        except (OSError, TimeoutError, ValueError) as exc:
            msg = " ".join(str(exc).split())
            raise BayesBijstandError(f"--scheduler {opts.scheduler}: cannot connect to the Dask "
                                     f"scheduler ({msg})") from None
    else:
        cluster = LocalCluster(n_workers=max(1, int(opts.workers)), threads_per_worker=1,
                               processes=True, dashboard_address=None,
                               silence_logs=logging.WARNING)
        client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_on_dask(plan: Any, opts: Any, progress: Any, *, client: Any = None) -> list[dict[str, Any]]:
    """Submit every job of ``plan`` to Dask and collect the job records in plan order."""
    if client is None:
        with dask_client(opts) as c:
            return run_on_dask(plan, opts, progress, client=c)
    from distributed import as_completed

    from .pipeline import run_job

    ev = client.scatter(plan.evidence, broadcast=True)
    futures = {client.submit(run_job, job, ev, plan.spec, Path(opts.out), plots=opts.plots,
                             resume=opts.resume, inputs=plan.inputs, cores=1,
                             formats=opts.figure_formats, pure=False): i
               for i, job in enumerate(plan.jobs)}
    records: list[dict[str, Any] | None] = [None] * len(plan.jobs)
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
