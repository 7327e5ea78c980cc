"""Iterative refinement checks from METHODS.md section 1."""

import numpy as np

from curate.budget import Budget
from curate.selectors import make_selector
from curate.selectors.kmq_iterative import cluster_weights, round_sizes
from tests.conftest import unit_rows
from tests.selectors.helpers import fixed_clusters


def four_clusters(size=200, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.eye(8, dtype=np.float32)[:4]
    assignment = np.repeat(np.arange(4), size)
    x = unit_rows(centres[assignment] + rng.normal(scale=0.3, size=(4 * size, 8)))
    return x, assignment


def test_each_round_adds_b_over_r_rows():
    x, assignment = four_clusters()
    table = make_selector("kmq-iterative", {"rounds": 3}).select(
        fixed_clusters(x, assignment), Budget(total=90), 0)
    assert np.bincount(table["round"].to_numpy()).tolist() == [30, 30, 30]
    assert round_sizes(10, 3) == [4, 3, 3]


def test_high_score_cluster_gets_its_weight_of_the_next_round():
    x, assignment = four_clusters()

    def reward(view, rows):  # cluster 0 still has the most to learn
        return np.where(view.clusters[rows] == 0, 2.0, 0.0)

    table = make_selector("kmq-iterative", {"rounds": 2, "reward": reward}).select(
        fixed_clusters(x, assignment), Budget(total=200), 0)
    second = table.filter(table["round"] == 1)["cluster"].to_numpy()
    expected = np.exp(2) / (np.exp(2) + 3)  # w_0 = softmax([2, 0, 0, 0])[0] = 0.711
    assert abs(np.mean(second == 0) - expected) < 0.08


def test_default_loss_score_favours_the_cluster_with_noisy_labels():
    x, assignment = four_clusters(size=300)
    rng = np.random.default_rng(1)
    labels = np.where(assignment < 2, "a", "b")
    noisy = assignment == 3
    labels[noisy] = rng.choice(["a", "b"], size=noisy.sum())
    view = fixed_clusters(x, assignment)
    view.labels = labels
    table = make_selector("kmq-iterative", {"rounds": 2}).select(view, Budget(total=200), 0)
    later = table.filter(table["round"] == 1)
    weight = {c: float(r.rsplit(" ", 1)[1]) for c, r in later.select("cluster", "reason").rows()}
    assert weight[3] > max(weight[0], weight[1], weight[2]) and weight[3] > 0.3
    share = np.mean(later["cluster"].to_numpy() == 3)
    assert share > 0.25 and abs(share - weight[3]) < 0.1


def test_cluster_weights_are_a_shifted_softmax():
    w = cluster_weights(np.array([1e4, 1e4, 0.0]), np.array([0, 0, 1]), 3)
    assert np.isfinite(w).all() and w[0] > 0.99 and abs(w.sum() - 1) < 1e-12
    # a cluster with nothing selected gets the mean score
    w = cluster_weights(np.array([2.0, 0.0]), np.array([0, 1]), 3)
    assert np.isclose(w[2], np.exp(1) / (np.exp(2) + 1 + np.exp(1)))
