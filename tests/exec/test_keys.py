"""Keyed randomness: draws are functions of (seed, row id), whatever the order or sharding."""

import numpy as np
import pytest
from scipy.stats import chisquare

from curate.budget import Budget
from curate.config import ClusterConfig
from curate.exec.keys import id_hashes, keyed_sample, row_keys, row_uniform, smallest
from curate.index.kmeans import fit_and_assign
from curate.selectors import SelectionView, make_selector

IDS = np.array([f"row-{i}" for i in range(500)])


def test_golden_draw_pins_the_stream():
    # a change to the hash or the mixing would silently change every selection made so far
    assert keyed_sample(0, id_hashes(IDS[:100]), 5, "random").tolist() == [81, 36, 10, 49, 46]


def test_a_draw_follows_the_ids_not_their_order():
    order = np.random.default_rng(0).permutation(len(IDS))
    straight = IDS[keyed_sample(3, id_hashes(IDS), 40, "random")]
    shuffled = IDS[order][keyed_sample(3, id_hashes(IDS[order]), 40, "random")]
    assert straight.tolist() == shuffled.tolist()


def test_the_smallest_keys_of_a_pool_are_the_smallest_of_its_shards_smallest():
    keys = row_keys(1, id_hashes(IDS), "random")
    whole = IDS[smallest(keys, 25)]
    candidates = np.concatenate([part[smallest(keys_part, 25)] for part, keys_part in
                                 zip(np.array_split(IDS, 12), np.array_split(keys, 12),
                                     strict=True)])
    cand_keys = row_keys(1, id_hashes(candidates), "random")
    assert candidates[smallest(cand_keys, 25)].tolist() == whole.tolist()


def test_draws_are_uniform_over_seeds():
    """Each of 10 rows is in a 3-row draw 3/10 of the time over 6,000 seeds."""
    hashes = id_hashes(IDS[:10])
    hits = np.zeros(10)
    for seed in range(6000):
        hits[keyed_sample(seed, hashes, 3, "random")] += 1
    assert chisquare(hits, np.full(10, 6000 * 3 / 10)).pvalue > 1e-3


def test_uniforms_are_in_the_open_unit_interval_and_differ_by_draw_name():
    u = row_uniform(0, id_hashes(IDS), "a")
    assert (u > 0).all() and (u < 1).all()
    assert not np.array_equal(u, row_uniform(0, id_hashes(IDS), "b"))
    assert not np.array_equal(u, row_uniform(1, id_hashes(IDS), "a"))


def test_kmeans_fit_ignores_row_order():
    x = np.random.default_rng(0).normal(size=(500, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    cfg = ClusterConfig(k=6, niter=10, nredo=1, max_points_per_centroid=40)
    order = np.random.default_rng(1).permutation(len(x))
    centroids, assignment, _, _ = fit_and_assign(x, cfg, 0, id_hashes(IDS))
    centroids_b, assignment_b, _, _ = fit_and_assign(x[order], cfg, 0, id_hashes(IDS[order]))
    assert np.array_equal(centroids, centroids_b)
    assert np.array_equal(assignment[order], assignment_b)


# dealrec and kmq-iterative train a surrogate with SGD in row order; the pool is put in id
# order at load for them (tests/reliability/test_row_order.py).
@pytest.mark.parametrize("selector", ["random", "kmq", "semdedup", "kmeans-nearest",
                                      "typiclust", "kcenter"])
def test_a_shuffled_view_selects_the_same_ids(selector):
    x = np.random.default_rng(2).normal(size=(500, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels = np.array(["a", "b"])[np.arange(500) % 2]
    order = np.random.default_rng(3).permutation(len(x))

    def picked(rows):
        view = SelectionView(ids=IDS[rows], embeddings=x[rows], labels=labels[rows])
        budget = Budget(total=20, per_label={"a": 10, "b": 10}, stratified=True)
        return sorted(make_selector(selector).select(view, budget, 7)["id"].to_list())

    assert picked(np.arange(len(x))) == picked(order)
