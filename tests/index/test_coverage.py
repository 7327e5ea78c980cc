"""Kernel coverage (MaxHerding/UHerding's greedy) against brute force on real rows."""

import numpy as np
import pytest

from curate.index.coverage import greedy_cover, kernel_cover, knn_graph, median_bandwidth
from tests.conftest import unit_rows


@pytest.fixture(scope="module")
def digits():
    """400 scikit-learn digits (real 8x8 scans), as unit vectors."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return unit_rows(data.data[:400] + 1e-3), data.target[:400]


def dense_kernel(x, sigma):
    """Every pair's kernel, rounded to float32 as the greedy stores it."""
    squared = ((x[:, None, :].astype(np.float64) - x[None, :, :]) ** 2).sum(-1)
    return np.exp(-squared / (2 * sigma ** 2)).astype(np.float32).astype(np.float64)


def brute_greedy(kernel, n, weights=None):
    """Greedy on a dense kernel matrix (kernel[x, c]), every gain recomputed from scratch."""
    weights = np.ones(len(kernel)) if weights is None else weights
    best, chosen = np.zeros(len(kernel)), []
    for _ in range(n):
        gain = (weights[:, None] * np.maximum(kernel - best[:, None], 0)).sum(axis=0)
        gain[chosen] = -np.inf
        chosen.append(int(np.argmax(gain)))
        best = np.maximum(best, kernel[:, chosen[-1]])
    return chosen


def objective(kernel, chosen, weights=None):
    weights = np.ones(len(kernel)) if weights is None else weights
    return float((weights * kernel[:, chosen].max(axis=1)).sum())


def test_a_complete_graph_is_the_exact_greedy(digits):
    x, _ = digits
    cover = kernel_cover(x, 30, neighbours=len(x))
    assert cover.rows.tolist() == brute_greedy(dense_kernel(x, cover.sigma), 30)


def test_weighted_greedy_matches_brute_force(digits):
    x, _ = digits
    weights = np.random.default_rng(0).uniform(0.1, 1.0, len(x))
    cover = kernel_cover(x, 25, neighbours=len(x), weights=weights)
    assert cover.rows.tolist() == brute_greedy(dense_kernel(x, cover.sigma), 25, weights)


def test_gains_are_the_objectives_increments(digits):
    x, _ = digits
    cover = kernel_cover(x, 20, neighbours=len(x))
    kernel = dense_kernel(x, cover.sigma)
    values = [objective(kernel, cover.rows[:i + 1]) / len(x) for i in range(20)]
    assert np.allclose(np.diff([0.0, *values]), cover.gains)
    assert np.all(np.diff(cover.gains) <= 1e-12)  # submodular: gains never grow


def test_a_sparse_graph_is_the_greedy_of_its_truncated_kernel(digits):
    """On 30 neighbours the greedy is exact for the kernel kept on the graph, and its full
    objective stays within 5% of the dense greedy's."""
    x, _ = digits
    graph = knn_graph(x, 30)
    sigma = median_bandwidth(graph, 10)
    truncated = np.zeros((len(x), len(x)))
    kept = np.exp(graph.squared / np.float32(-2 * sigma ** 2)).astype(np.float64)
    np.put_along_axis(truncated, graph.rows, kept, 1)
    cover = greedy_cover(graph, 40, sigma)
    assert cover.rows.tolist() == brute_greedy(truncated, 40)
    full = dense_kernel(x, sigma)
    assert objective(full, cover.rows) >= 0.95 * objective(full, brute_greedy(full, 40))


def test_graph_lists_the_nearest_rows_with_self_first(digits):
    x, _ = digits
    graph = knn_graph(x, 8)
    squared = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(squared, np.inf)
    assert (graph.rows[:, 0] == np.arange(len(x))).all()
    expected = np.sort(squared, axis=1)[:, :8]
    assert np.allclose(np.sort(graph.squared[:, 1:], axis=1), expected, atol=1e-5)


def test_duplicates_are_picked_once_and_the_budget_can_exceed_the_distinct_rows():
    x = unit_rows(np.repeat(np.eye(4), 5, axis=0))  # 4 distinct rows, 5 copies each
    cover = kernel_cover(x, 20, neighbours=3, sigma=0.5)
    assert sorted(cover.rows.tolist()) == list(range(20))
    assert set(np.unique(x[cover.rows[:4]], axis=0).round(3).ravel()) == {0.0, 1.0}
    assert len(np.unique(x[cover.rows[:4]], axis=0)) == 4  # one of each before any repeat


def test_one_row():
    assert kernel_cover(unit_rows(np.ones((1, 3))), 1).rows.tolist() == [0]
