"""Selection from a sharded pool equals selection in memory, for every registered selector.

3,000 Fashion-MNIST images (L2-normalised pixels) in 12 shards of a shuffled row order:
selectors with a plan pick from the shards' maps; the rest gather the rows first. Either
way the ids, their order and their reasons equal the in-memory selector's.
"""

import numpy as np
import polars as pl
import pytest

from curate.budget import resolve_budget
from curate.config import ClusterConfig
from curate.data.builtin import load_fashion_mnist
from curate.errors import CurateError
from curate.index import kmeans_clusterer
from curate.selectors import SelectionView, available, make_selector
from curate.selectors.sharded import Shard, ShardedPool, split_rows

CLUSTER = ClusterConfig(k=24, niter=10, nredo=1, max_points_per_centroid=32)
SHARDS = 12
PLANNED = {"random", "kmq", "kmeans-nearest", "auto"}  # auto chooses kmeans-nearest here


@pytest.fixture(scope="session")
def images():
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


@pytest.mark.parametrize("selector", sorted(set(available()) - {"ot"}))
@pytest.mark.parametrize("spec", ["2%", "10 per label"])
def test_sharded_selection_equals_in_memory(images, selector, spec):
    budget = budget_for(images, spec)
    local = make_selector(selector).select(view_of(images), budget, 3)
    pool = sharded(images)
    if selector in PLANNED:
        pool.gather_limit = 0  # picks from the maps alone
    spread = make_selector(selector).select_sharded(pool, budget, 3)
    same_selection(local, spread)


def test_sharded_selection_without_labels(images):
    ids, x, _ = images
    view = SelectionView(ids=ids, embeddings=x, cluster_fn=kmeans_clusterer(CLUSTER))
    budget = resolve_budget("60", len(ids), None, False, "auto")
    pool = sharded((ids, x, None))
    pool.gather_limit = 0
    for name in sorted(PLANNED):
        same_selection(make_selector(name).select(view, budget, 1),
                       make_selector(name).select_sharded(pool, budget, 1))


def test_ot_gathers_with_its_target(images):
    target = images[1][images[2] == images[2][0]][:40]
    budget = budget_for(images, "1%")
    same_selection(make_selector("ot").select(view_of(images, target), budget, 0),
                   make_selector("ot").select_sharded(sharded(images, target=target),
                                                      budget, 0))


def test_a_selector_without_a_plan_refuses_to_gather_past_the_limit(images):
    pool = sharded(images)
    pool.gather_limit = 1024
    with pytest.raises(CurateError, match="typiclust has no sharded plan"):
        make_selector("typiclust").select_sharded(pool, budget_for(images, "1%"), 0)
    # one with a plan never gathers
    make_selector("kmeans-nearest").select_sharded(pool, budget_for(images, "1%"), 0)
