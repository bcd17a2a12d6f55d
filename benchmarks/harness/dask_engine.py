"""The Dask engine against the local pool, on the same wheels, side by side (issue #16).

Both run what ``wheelscan audit`` runs but the SQLite writes: ``PreparingTask(AuditTask())``
over the corpus's refs, the pool's ``results`` against ``DaskExecutor.results`` on a
``LocalCluster`` of as many one-thread worker processes as the pool has workers.

The cluster is started once, outside the timing, and every timed Dask run connects to it by
its address, as ``wheelscan audit --engine dask --scheduler tcp://...`` does: the figure is
the engine's throughput, as it is where a cluster already runs. The cluster's start-up, which
a run without ``--scheduler`` pays once, is measured and said apart. The local pool's timing
includes its workers' start, as in ``batch.run_batch``; a Dask worker's process stays up.

The runs are interleaved (pool, Dask, pool, Dask, ...) and the best of each kept, so that a
neighbour taking a core for a while disturbs both alike.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from harness.corpus import ref
from wheelscan.engine.dask_executor import DaskExecutor, local_cluster
from wheelscan.engine.pool import LocalPool
from wheelscan.engine.run import PreparingTask
from wheelscan.engine.task import AuditTask


class EngineError(RuntimeError):
    """A wheel got an error record on one engine: the two timings would not compare."""


def _check(results: list[Any], engine: str) -> int:
    failed = [r.ref.filename for r in results if not r.ok]
    if failed:
        raise EngineError(f"{engine}: {len(failed)} wheels failed, first {failed[0]}")
    return len(results)


def compare(wheels: list[Path], workers: int, repeats: int) -> dict[str, Any]:
    refs = [ref(path) for path in wheels]
    task = PreparingTask(AuditTask())
    started = time.perf_counter()
    with local_cluster(workers) as cluster:
        cluster_start = time.perf_counter() - started
        address = cluster.scheduler_address
        # one untimed run: the workers import wheelscan and load the policies once
        list(DaskExecutor(task, scheduler=address).results(refs[:workers]))
        local: list[float] = []
        dask: list[float] = []
        for _ in range(repeats):
            t = time.perf_counter()
            _check(list(LocalPool(task, workers).results(refs)), "local pool")
            local.append(time.perf_counter() - t)
            t = time.perf_counter()
            executor = DaskExecutor(task, scheduler=address)
            _check(list(executor.results(refs)), "dask")
            dask.append(time.perf_counter() - t)
    return {
        "workers": workers,
        "wheels": len(refs),
        "local_seconds": local,
        "dask_seconds": dask,
        "cluster_start_seconds": cluster_start,
        # throughput ratio: Dask's wheels/s over the pool's, best run of each
        "ratio": min(local) / min(dask),
    }
