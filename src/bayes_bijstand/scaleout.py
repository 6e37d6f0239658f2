"""Running the independent fits of a run on Dask (``fit --executor dask``).

Each job (outcome x pooling mode x evidence-grade subset) is a pure function of the evidence
table, the spec and the output directory, and writes its own files atomically, so jobs can
run anywhere that sees the output directory (a shared filesystem on a real cluster). Without
``--scheduler`` a :class:`distributed.LocalCluster` with ``--workers`` single-threaded
workers is started and closed again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def run_on_dask(plan: Any, opts: Any, progress: Any) -> list[dict[str, Any]]:
    """Submit every job of ``plan`` to Dask and collect the job records in plan order."""
    from distributed import Client, LocalCluster, as_completed

    from .pipeline import run_job

    cluster = None
    if opts.scheduler:
        client = Client(opts.scheduler)
    else:
        cluster = LocalCluster(n_workers=opts.workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        ev = client.scatter(plan.evidence, broadcast=True)
        futures = {client.submit(run_job, job, ev, plan.spec, Path(opts.out), plots=opts.plots,
                                 resume=opts.resume, pure=False): i
                   for i, job in enumerate(plan.jobs)}
        records: list[dict[str, Any] | None] = [None] * len(plan.jobs)
        for fut in as_completed(futures):
            records[futures[fut]] = fut.result()
            progress.update(1)
        return [r for r in records if r is not None]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
