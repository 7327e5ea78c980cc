"""The reference executor: every shard in this process, in order."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any


class LocalExecutor:

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
