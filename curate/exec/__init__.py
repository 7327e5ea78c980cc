"""Executors: where the work inside a stage runs. `local` is the reference loop in this
process; `ray` spreads embedding shards over a Ray actor pool. Results are identical by
design, so no cache key includes the executor."""

from __future__ import annotations

from curate.config import RunConfig
from curate.exec.local import LocalExecutor
from curate.exec.shards import Executor


def make_executor(run: RunConfig) -> Executor:
    if run.executor == "ray":
        from curate.exec.ray_pool import RayExecutor

        return RayExecutor(address=run.address, workers=run.workers,
                           cpus_per_worker=run.cpus_per_worker,
                           gpus_per_worker=run.gpus_per_worker)
    return LocalExecutor()


__all__ = ["Executor", "LocalExecutor", "make_executor"]
