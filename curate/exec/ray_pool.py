"""The Ray executor: embedding shards over an actor pool, one model per actor.

Prefect stays the orchestrator at stage level; Ray only runs the shards inside a stage (its
task runner would not carry PREFECT_API_URL to remote workers, and the stage chain has no
task parallelism to give it). The driver writes every shard it gets back, so the cache and
its content-named shards are exactly what the local executor writes; a run that loses a
worker keeps the shards already written and a rerun embeds only the missing ones.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from curate.errors import CurateError, missing_package


class ShardWorker:
    """One actor: builds the worker (loads the model) once, then runs shard after shard."""

    def __init__(self, make_worker: Callable, threads: int):
        import torch

        torch.set_num_threads(threads)
        self.worker = make_worker()

    def run(self, number: int, payload: Any) -> tuple[int, Any]:
        return number, self.worker(payload, None)


class RayExecutor:

    def __init__(self, address: str | None = None, workers: int | None = None,
                 cpus_per_worker: int = 1, gpus_per_worker: float | str = "auto"):
        self.address, self.workers = address, workers
        self.cpus_per_worker, self.gpus_per_worker = cpus_per_worker, gpus_per_worker
        self.actors: list = []

    def _connect(self) -> bool:
        """Join the cluster (RAY_ADDRESS wins over run.address; neither: start a local one).
        True when this call started the connection, so it is this executor's to close."""
        try:
            import ray
        except ImportError as err:
            raise missing_package("run.executor ray", "Ray", "'curate[ray]'",
                                  "set run.executor: local") from err
        if ray.is_initialized():
            return False
        address = os.environ.get("RAY_ADDRESS") or self.address
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        except ConnectionError as err:
            raise CurateError(f"cannot reach the Ray cluster at {address}: {err}",
                              "start it (`ray start --head`) or fix run.address / "
                              "RAY_ADDRESS") from err
        return True

    @contextmanager
    def session(self):
        """One connection for the maps of a stage (a local cluster starts once, not per
        map), closed at the end when this executor opened it."""
        import ray

        started = self._connect()
        try:
            yield self
        finally:
            if started:
                ray.shutdown()

    def map_tasks(self, fn: Callable, calls: Sequence[tuple]) -> list:
        """[fn(*args) for each call] as Ray tasks (cpus_per_worker each), results in call
        order: a selector plan's map over shards."""
        import ray
        from ray.exceptions import RayTaskError

        with self.session():
            task = ray.remote(num_cpus=self.cpus_per_worker)(fn)
            try:
                return ray.get([task.remote(*args) for args in calls])
            except RayTaskError as err:  # the task's own error, e.g. a CurateError
                raise err.as_instanceof_cause() from None

    def _gpus(self, ray) -> float:
        if self.gpus_per_worker != "auto":
            return float(self.gpus_per_worker)
        return 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0

    def map_shards(self, make_worker: Callable[[], Callable], jobs: Sequence[Sequence],
                   read: Callable[[Sequence], Any], on_rows: Callable[[int], None]
                   ) -> Iterator[tuple[int, Any]]:
        """(job number, worker(read(job))) as shards finish, in any order; a shard is read
        when an actor is free for it."""
        if not jobs:
            return
        import ray
        from ray.exceptions import RayActorError, RayTaskError
        from ray.util import ActorPool

        started = self._connect()
        try:
            cpus = ray.cluster_resources().get("CPU", 1)
            workers = self.workers or max(1, int(cpus // self.cpus_per_worker))
            actor = ray.remote(ShardWorker).options(
                num_cpus=self.cpus_per_worker, num_gpus=self._gpus(ray),
                max_restarts=1, max_task_retries=1)  # one lost worker is replaced, once
            self.actors = [actor.remote(make_worker, self.cpus_per_worker)
                           for _ in range(min(workers, len(jobs)))]
            pool = ActorPool(self.actors)
            results = pool.map_unordered(lambda a, n: a.run.remote(n, read(jobs[n])),
                                         range(len(jobs)))
            while True:
                try:
                    number, result = next(results)
                except StopIteration:
                    break
                except RayTaskError as err:  # the worker's own error, e.g. a CurateError
                    raise err.as_instanceof_cause() from None
                except RayActorError as err:
                    raise CurateError(f"a Ray worker died while embedding ({type(err).__name__})",
                                      "rerun: the shards already written are kept and only "
                                      "the missing ones are embedded") from err
                on_rows(len(jobs[number]))
                yield number, result
        finally:
            for handle in self.actors:
                ray.kill(handle)
            self.actors = []
            if started:
                ray.shutdown()
