"""The pool as shards, and the executor that maps over them.

A `ShardedPool` is the pool as a list of shards (ids, labels, numeric columns and a way to
load the shard's vectors) plus an executor that runs a function on every shard: in this
process one shard at a time (`local`), or as Ray tasks (`ray`). The driver holds only the
small per-row columns and what the maps send back.

This module moves rows; it does not select. Selector plans (`curate.selectors.base`) are
written against it, and an in-memory selection is a plan over one shard holding the
view's rows. Every random draw is keyed by (seed, row id) (`curate.exec.keys`), so what a
plan picks does not depend on how the rows are sharded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Protocol

import numpy as np

from curate.config import ClusterConfig
from curate.errors import CurateError
from curate.exec.keys import id_hashes, row_keys, smallest
from curate.exec.local import LocalExecutor


class Executor(Protocol):
    """Where the work inside a stage runs (`LocalExecutor`, `RayExecutor`); results are
    the same on either."""

    def session(self) -> AbstractContextManager:
        """One connection for the maps of a stage."""

    def map_tasks(self, fn: Callable, calls: Sequence[tuple]) -> list:
        """[fn(*args) for each call], in call order: a selector plan's map over shards."""

    def map_shards(self, make_worker: Callable[[], Callable], jobs: Sequence[Sequence],
                   read: Callable[[Sequence], Any], on_rows: Callable[[int], None]
                   ) -> Iterator[tuple[int, Any]]:
        """(job number, worker(read(job))) for each job: embedding shards."""


@dataclass
class Shard:
    """One partition of the pool. `vectors` is the (rows, d) array or a function that loads
    it (a shard on disk is read where the map runs, never on the driver); `columns` maps a
    name to the rows' values (a view's scores, computed when first read, in memory)."""

    ids: np.ndarray
    vectors: np.ndarray | Callable[[], np.ndarray]
    labels: np.ndarray | None = None
    columns: Mapping[str, np.ndarray] = field(default_factory=dict)
    hashes: np.ndarray | None = None

    def __post_init__(self):
        if self.hashes is None:
            self.hashes = id_hashes(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def load(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The shard's vectors, or those of `rows` (all rows: no copy)."""
        vectors = self.vectors() if callable(self.vectors) else self.vectors
        x = np.asarray(vectors, dtype=np.float32)
        return x if rows is None or len(rows) == len(x) else x[rows]

    def rows_of(self, label: str | None) -> np.ndarray:
        """Positions of the group's rows: a label's, or all (None)."""
        if label is None:
            return np.arange(len(self))
        return np.flatnonzero(self.labels.astype(str) == label)


@dataclass(frozen=True)
class Group:
    """A group a plan selects in: `label` None is the whole pool."""

    name: str
    label: str | None
    n: int
    size: int


def _sample_rows(shard: Shard, label: str | None, seed: int, threshold: np.uint64):
    """(keys, vectors) of the shard's group rows whose sample key is <= threshold."""
    rows = shard.rows_of(label)
    keys = row_keys(seed, shard.hashes[rows], "kmeans-sample")
    mine = np.flatnonzero(keys <= threshold)
    return keys[mine], shard.load(rows[mine]) if len(mine) else None


def in_id_order(ids: np.ndarray, *columns: np.ndarray | None) -> list[np.ndarray | None]:
    """ids sorted (stably) and each column (None stays None) in the same order: the order
    of rows whatever the shards or the order within them."""
    order = np.argsort(ids, kind="stable")
    return [ids[order], *(None if c is None else np.asarray(c)[order] for c in columns)]


@dataclass
class ShardedPool:
    """Args:
        shards: the pool's partitions (every row in exactly one).
        cluster: the k-means settings (cluster section of the config).
        executor: runs a function on every shard (`map_tasks`); default this process.
        gather_limit: bytes of vectors a selector without a plan may gather here.
        dim: the vectors' width (for the gather guard's arithmetic).
        target: (M, d) target-set embeddings, for distribution-shift selectors.
        instruction: prompt/response rows selected for an LM fine-tune (not for a
            classifier on their labels).
        clustering: where the rows are in memory already (a view as one shard), its
            clustering: (k, overrides) -> (centroids, each row's cluster); None: plans fit
            k-means from the shards' keyed sample.
    """

    shards: list[Shard]
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    executor: Executor = field(default_factory=LocalExecutor)
    gather_limit: int = 4 * 1024**3
    dim: int = 0
    target: np.ndarray | None = None
    instruction: bool = False
    clustering: Callable[[int | None, dict | None], tuple[np.ndarray, np.ndarray]] | None = None
    gathered_: object = field(default=None, repr=False)  # the last gathered view

    def __len__(self) -> int:
        return sum(len(s) for s in self.shards)

    def map(self, fn: Callable, *args) -> list:
        """fn(shard, *args) for every shard, in shard order."""
        return self.executor.map_tasks(fn, [(shard, *args) for shard in self.shards])

    def labels(self) -> np.ndarray | None:
        if self.shards and self.shards[0].labels is None:
            return None
        return np.concatenate([s.labels.astype(str) for s in self.shards])

    def hashes(self) -> np.ndarray:
        """Every row's id hash, in shard order (what keyed draws read)."""
        return np.concatenate([s.hashes for s in self.shards])

    def groups(self, per_label: dict[str, int] | None, total: int) -> list[Group]:
        if per_label is None:
            return [Group("all", None, total, len(self))]
        names, counts = np.unique(self.labels(), return_counts=True)
        sizes = dict(zip(names.tolist(), counts.tolist(), strict=True))
        return [Group(f"label={label}", label, n, sizes.get(label, 0))
                for label, n in sorted(per_label.items())]

    def columns(self, label: str | None, *columns: str | np.ndarray, vectors: bool = False
                ) -> list[np.ndarray | None]:
        """The group's rows in id order: [ids, hashes, labels (None without), vectors (with
        `vectors`, loaded here; else None), *columns], each column the name of a pool column
        (`Shard.columns`) or the group's per-row results of a map, in shard order."""
        rows = [s.rows_of(label) for s in self.shards]

        def joined(part: Callable[[Shard], np.ndarray | None]) -> np.ndarray | None:
            parts = [part(s) for s in self.shards]
            return None if parts[0] is None else np.concatenate(
                [p if len(r) == len(p) else p[r] for p, r in zip(parts, rows, strict=True)])

        return in_id_order(
            joined(lambda s: s.ids.astype(str)), joined(lambda s: s.hashes),
            joined(lambda s: None if s.labels is None else s.labels.astype(str)),
            joined(Shard.load) if vectors else None,
            *(joined(lambda s, c=c: s.columns[c]) if isinstance(c, str) else c for c in columns))

    def sample(self, label: str | None, seed: int, count: int) -> np.ndarray:
        """The vectors of the group's `count` rows with the smallest k-means sample keys,
        in key order (`curate.index.kmeans.training_rows`). The keys come from the ids,
        which the driver holds: only the sampled rows' vectors travel."""
        keys = row_keys(seed, np.concatenate([s.hashes[s.rows_of(label)] for s in self.shards]),
                        "kmeans-sample")
        threshold = keys[smallest(keys, count)[-1]]
        parts = [p for p in self.map(_sample_rows, label, seed, threshold) if p[1] is not None]
        keys = np.concatenate([p[0] for p in parts])
        return np.concatenate([p[1] for p in parts])[np.argsort(keys, kind="stable")]

    def without(self, drop: np.ndarray, columns: Sequence[str]) -> ShardedPool:
        """This pool without the rows `drop` marks ((N,) bool, in shard order), keeping the
        named `columns`; vectors still load where the map runs."""
        def kept(shard: Shard, drop: np.ndarray) -> Shard:
            rows = np.flatnonzero(~drop)
            return Shard(ids=shard.ids[rows], vectors=partial(shard.load, rows),
                         labels=None if shard.labels is None else shard.labels[rows],
                         columns={name: np.asarray(shard.columns[name])[rows]
                                  for name in columns if name in shard.columns},
                         hashes=shard.hashes[rows])

        parts = np.split(drop, np.cumsum([len(shard) for shard in self.shards])[:-1])
        return replace(self, shards=[kept(s, d) for s, d in zip(self.shards, parts, strict=True)],
                       clustering=None, gathered_=None)

    def gather(self, what: str, make_view: Callable[..., Any]):
        """Every row on the driver, in id order (as the pool is loaded), as
        `make_view(ids=, embeddings=, labels=, scores=, target=, hashes=)` (the selectors'
        in-memory view), for selectors without a plan; refused past gather_limit."""
        need = len(self) * self.dim * 4
        if need > self.gather_limit:
            raise CurateError(f"{what} has no sharded plan and would gather "
                              f"{need / 1024**3:.1f} GiB of vectors on the driver "
                              f"(limit {self.gather_limit / 1024**3:.1f} GiB)",
                              "use a selector with a plan (random, kmq, kmeans-nearest, "
                              "auto) or raise run.gather_limit_gb")
        names = list(self.shards[0].columns if self.shards else {})
        ids, hashes, labels, vectors, *values = self.columns(None, *names, vectors=True)
        self.gathered_ = make_view(ids=ids, embeddings=vectors, labels=labels,
                                   scores=dict(zip(names, values, strict=True)),
                                   target=self.target, hashes=hashes)
        return self.gathered_


def split_rows(n: int, shards: int) -> Sequence[np.ndarray]:
    """Contiguous row ranges of `n` rows in `shards` parts (the last ones one row shorter)."""
    return np.array_split(np.arange(n), max(1, min(shards, n)))
