"""kMQ checks from METHODS.md section 1."""

import itertools

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import chisquare

from curate.budget import Budget
from curate.exec.keys import id_hashes, row_gumbel
from curate.selectors import SelectionView, make_selector
from curate.selectors.kmq import allocate_quota, weighted_sample
from tests.conftest import unit_rows
from tests.selectors.helpers import fixed_clusters


def clustered(sizes, d=8, seed=0):
    rng = np.random.default_rng(seed)
    x = unit_rows(rng.normal(size=(sum(sizes), d)))
    return x, np.repeat(np.arange(len(sizes)), sizes)


def counts_per_cluster(table, view):
    return np.bincount(table["cluster"].to_numpy(), minlength=view.centroids.shape[0])


def test_equal_scores_give_each_cluster_its_quota():
    x, assignment = clustered([30, 30, 30, 30])
    view = fixed_clusters(x, assignment)
    table = make_selector("kmq").select(view, Budget(total=40), seed=0)
    assert counts_per_cluster(table, view).tolist() == [10, 10, 10, 10]


def test_small_clusters_give_all_and_leftover_is_redistributed():
    x, assignment = clustered([50, 50, 3, 50])
    view = fixed_clusters(x, assignment)
    counts = counts_per_cluster(make_selector("kmq").select(view, Budget(total=40), 0), view)
    assert counts[2] == 3  # a cluster smaller than its quota gives all its points
    assert counts.sum() == 40 and all(counts[[0, 1, 3]] >= 10)  # the official code stops at 33


@given(sizes=st.lists(st.integers(1, 30), min_size=1, max_size=40), data=st.data())
def test_allocate_quota_properties(sizes, data):
    sizes = np.array(sizes)
    n = data.draw(st.integers(1, int(sizes.sum())))
    quota = allocate_quota(sizes, n, np.random.default_rng(0))
    assert quota.sum() == n and (quota <= sizes).all()
    assert (quota >= np.minimum(sizes, n // len(sizes))).all()


def test_budget_smaller_than_cluster_count():
    x, assignment = clustered([5] * 10)
    view = fixed_clusters(x, assignment)
    counts = counts_per_cluster(make_selector("kmq").select(view, Budget(total=4), 0), view)
    assert counts.sum() == 4 and counts.max() == 1


def test_extreme_scores_stay_finite_and_pick_the_best():
    x, assignment = clustered([20, 20])
    quality = np.where(np.arange(40) % 4 == 0, 1e4, -1e4)
    view = fixed_clusters(x, assignment, scores={"q": quality})
    table = make_selector("kmq", {"quality": "q"}).select(view, Budget(total=10), 0)
    rows = np.searchsorted(view.ids, table["id"].to_numpy())
    assert np.isfinite(table["score"].to_numpy()).all() and (rows % 4 == 0).all()


def test_draws_follow_softmax_of_quality():
    """One draw per trial: frequencies match softmax([0, ln 2, ln 4]) = [1, 2, 4] / 7."""
    quality = np.log([1.0, 2.0, 4.0])
    hashes = id_hashes(["a", "b", "c"])  # the keyed noise, one seed per trial
    firsts = np.array([weighted_sample(quality, 1, row_gumbel(seed, hashes, "kmq"))[0]
                       for seed in range(14000)])
    observed = np.bincount(firsts, minlength=3)
    assert chisquare(observed, 14000 * np.array([1, 2, 4]) / 7).pvalue > 1e-3


def test_without_replacement_inclusion_matches_brute_force():
    """P(i in a 2-draw sample) equals the successive-sampling formula, enumerated."""
    weights = np.array([1.0, 2.0, 3.0, 4.0])
    p = weights / weights.sum()
    exact = np.zeros(4)
    for i, j in itertools.permutations(range(4), 2):
        prob = p[i] * p[j] / (1 - p[i])
        exact[[i, j]] += prob
    hashes = id_hashes(["a", "b", "c", "d"])
    trials = 20000
    hits = np.zeros(4)
    for seed in range(trials):
        hits[weighted_sample(np.log(weights), 2, row_gumbel(seed, hashes, "kmq"))] += 1
    assert np.allclose(hits / trials, exact, atol=0.015)


def test_own_k_puts_kmq_in_its_regime_whatever_cluster_k_is():
    """kmq[k=4] asks the view for a 4-means (whatever cluster.k is) and gives each of its
    clusters B/K rows, Diversify and Conquer's equal quota; without k the view's cluster.k
    (here 16) spreads the budget over 16 clusters."""
    x, blob = clustered([50, 50, 50, 50])
    asked = []

    def clusters(rows, group, k_asked, seed, overrides=None, hashes=None):
        asked.append(k_asked)
        k = k_asked or 16
        assignment = blob if k == 4 else np.arange(len(rows)) % k
        return np.zeros((k, rows.shape[1]), dtype=np.float32), assignment

    view = SelectionView(ids=np.array([f"row-{i:04d}" for i in range(len(x))]), embeddings=x,
                         cluster_fn=clusters)
    table = make_selector("kmq", {"k": 4}).select(view, Budget(total=40), seed=0)
    rows = np.searchsorted(view.ids, table["id"].to_numpy())
    assert asked == [4] and np.bincount(blob[rows], minlength=4).tolist() == [10] * 4
    default = make_selector("kmq").select(view, Budget(total=40), seed=0)
    assert asked[-1] is None and default["cluster"].n_unique() == 16
