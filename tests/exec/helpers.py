"""A 3,000-image Fashion-MNIST pool, in memory and in 12 shards of a shuffled row order."""

import numpy as np
import polars as pl

from curate.budget import resolve_budget
from curate.config import ClusterConfig
from curate.data.builtin import load_fashion_mnist
from curate.exec.shards import Shard, ShardedPool, split_rows
from curate.index import kmeans_clusterer
from curate.selectors import SelectionView

CLUSTER = ClusterConfig(k=24, niter=10, nredo=1, max_points_per_centroid=32)
SHARDS = 12
PLANNED = {"random", "kmq", "kmeans-nearest"}
# without labels auto runs kmeans-nearest alone (nothing to validate on): its plan
PLANNED_UNLABELLED = PLANNED | {"auto"}


def load_images():
    frame, _ = load_fashion_mnist()
    frame = frame.head(3000)
    x = np.asarray(frame["pixels"].to_list(), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return frame["id"].to_numpy().astype(str), x, frame["label"].to_numpy().astype(str)


def view_of(images, target=None) -> SelectionView:
    ids, x, labels = images
    return SelectionView(ids=ids, embeddings=x, labels=labels,
                         cluster_fn=kmeans_clusterer(CLUSTER), target=target)


def sharded(images, executor=None, target=None) -> ShardedPool:
    ids, x, labels = images
    order = np.random.default_rng(0).permutation(len(ids))
    shards = [Shard(ids=ids[order[r]], vectors=x[order[r]],
                    labels=None if labels is None else labels[order[r]])
              for r in split_rows(len(ids), SHARDS)]
    extra = {"executor": executor} if executor is not None else {}
    return ShardedPool(shards=shards, cluster=CLUSTER, dim=x.shape[1], target=target, **extra)


def budget_for(images, spec: str):
    return resolve_budget(spec, len(images[0]), images[2], False, "auto")


def same_selection(a: pl.DataFrame, b: pl.DataFrame) -> None:
    assert a["id"].to_list() == b["id"].to_list()
    assert a["reason"].to_list() == b["reason"].to_list()
