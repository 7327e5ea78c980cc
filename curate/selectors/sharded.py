"""Selection over a sharded pool: selector plans, a map over shards and a reduce here.

A `ShardedPool` is the pool as a list of shards (ids, labels, numeric columns and a way to
load the shard's vectors) plus an executor that runs a function on every shard: in this
process one shard at a time (`local`), or as Ray tasks (`ray`). The driver holds only the
small per-row columns and what the plans send back: O(k x d + budget + sample) numbers.

A selector with a plan (`Selector.plan`) picks from these maps; one without gathers the
pool's rows to the driver behind `gather_limit` and runs its in-memory `select`. Every
random draw is keyed by (seed, row id) (`curate.exec.keys`) and every k-means trains on
the keyed sample (`curate.index.kmeans.training_rows`), so a plan picks the ids that the
in-memory selector picks on the same rows, however they are sharded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from curate.config import ClusterConfig
from curate.errors import CurateError
from curate.exec import LocalExecutor
from curate.exec.keys import id_hashes, row_keys, smallest
from curate.index.kmeans import fit_sample


@dataclass
class Shard:
    """One partition of the pool. `vectors` is the (rows, d) array or a function that loads
    it (a shard on disk is read where the map runs, never on the driver)."""

    ids: np.ndarray
    vectors: np.ndarray | Callable[[], np.ndarray]
    labels: np.ndarray | None = None
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    hashes: np.ndarray | None = None

    def __post_init__(self):
        if self.hashes is None:
            self.hashes = id_hashes(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def load(self) -> np.ndarray:
        vectors = self.vectors() if callable(self.vectors) else self.vectors
        return np.asarray(vectors, dtype=np.float32)

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
    return keys[mine], shard.load()[rows[mine]] if len(mine) else None


@dataclass
class ShardedPool:
    """Args:
        shards: the pool's partitions (every row in exactly one).
        cluster: the k-means settings (cluster section of the config).
        executor: runs a function on every shard (`map_tasks`); default this process.
        gather_limit: bytes of vectors a selector without a plan may gather here.
        dim: the vectors' width (for the gather guard's arithmetic).
        target: (M, d) target-set embeddings, for distribution-shift selectors.
    """

    shards: list[Shard]
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    executor: object = field(default_factory=LocalExecutor)
    gather_limit: int = 4 * 1024**3
    dim: int = 0
    target: np.ndarray | None = None
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

    def groups(self, per_label: dict[str, int] | None, total: int) -> list[Group]:
        if per_label is None:
            return [Group("all", None, total, len(self))]
        names, counts = np.unique(self.labels(), return_counts=True)
        sizes = dict(zip(names.tolist(), counts.tolist(), strict=True))
        return [Group(f"label={label}", label, n, sizes.get(label, 0))
                for label, n in sorted(per_label.items())]

    def fit(self, group: Group, k: int | None, seed: int, overrides: dict | None = None
            ) -> tuple[np.ndarray, ClusterConfig, str]:
        """The group's k-means as the in-memory clusterer fits it: k (None: cluster.k)
        capped by the group's size, trained on its keyed sample (the k x
        max_points_per_centroid smallest keys, in key order), whose rows the shards send.
        (centroids, the settings used, the backend)."""
        k = max(1, min(k or self.cluster.k, group.size))
        cfg = self.cluster.model_copy(update={"k": k, **(overrides or {})})
        # the sample's keys come from the ids, which the driver holds: only the sampled
        # rows' vectors travel
        keys = row_keys(seed, np.concatenate([s.hashes[s.rows_of(group.label)]
                                              for s in self.shards]), "kmeans-sample")
        threshold = keys[smallest(keys, k * cfg.max_points_per_centroid)[-1]]
        parts = [p for p in self.map(_sample_rows, group.label, seed, threshold)
                 if p[1] is not None]
        keys = np.concatenate([p[0] for p in parts])
        train = np.concatenate([p[1] for p in parts])[np.argsort(keys, kind="stable")]
        centroids, _, backend = fit_sample(train, k, cfg, seed)
        return centroids, cfg, backend

    def gather(self, what: str):
        """Every row on the driver, as one in-memory SelectionView (rows in id order, as
        the pool is loaded), for selectors without a plan; refused past gather_limit."""
        from curate.index import kmeans_clusterer
        from curate.selectors.base import SelectionView

        need = len(self) * self.dim * 4
        if need > self.gather_limit:
            raise CurateError(f"{what} has no sharded plan and would gather "
                              f"{need / 1024**3:.1f} GiB of vectors on the driver "
                              f"(limit {self.gather_limit / 1024**3:.1f} GiB)",
                              "use a selector with a plan (random, kmq, kmeans-nearest, "
                              "auto) or raise run.gather_limit_gb")
        ids = np.concatenate([s.ids.astype(str) for s in self.shards])
        order = np.argsort(ids, kind="stable")
        columns = {name: np.concatenate([s.columns[name] for s in self.shards])[order]
                   for name in (self.shards[0].columns if self.shards else {})}
        labels = self.labels()
        self.gathered_ = SelectionView(ids=ids[order],
                             embeddings=np.concatenate([s.load() for s in self.shards])[order],
                             labels=None if labels is None else labels[order], scores=columns,
                             cluster_fn=kmeans_clusterer(self.cluster), target=self.target,
                             hashes=np.concatenate([s.hashes for s in self.shards])[order])
        return self.gathered_


def split_rows(n: int, shards: int) -> Sequence[np.ndarray]:
    """Contiguous row ranges of `n` rows in `shards` parts (the last ones one row shorter)."""
    return np.array_split(np.arange(n), max(1, min(shards, n)))
