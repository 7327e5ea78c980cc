"""The reference executor: every shard in this process, in order."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from typing import Any


class LocalExecutor:

    def session(self):
        return nullcontext()

    def map_tasks(self, fn: Callable, calls: Sequence[tuple]) -> list:
        """[fn(*args) for each call], in order: a selector plan's map over shards."""
        return [fn(*args) for args in calls]

    def map_shards(self, make_worker: Callable[[], Callable], jobs: Sequence[Sequence],
                   read: Callable[[Sequence], Any], on_rows: Callable[[int], None]
                   ) -> Iterator[tuple[int, Any]]:
        """(job number, worker(read(job))) for each job (a shard's rows), in order.
        `make_worker` is called once (it loads the model); `on_rows(n)` reports progress."""
        if not jobs:
            return
        worker = make_worker()
        for number, job in enumerate(jobs):
            yield number, worker(read(job), on_rows)
