"""TypiClust checks from METHODS.md section 6."""

import numpy as np

from curate.budget import Budget
from curate.selectors import make_selector
from curate.selectors.typiclust import typicality
from tests.conftest import unit_rows
from tests.selectors.helpers import view_of


def brute_typicality(x, k):
    squared = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(squared, np.inf)
    return 1.0 / (np.sort(squared, axis=1)[:, :k].mean(axis=1) + 1e-5)


def test_typicality_matches_brute_force():
    x = unit_rows(np.random.default_rng(0).normal(size=(60, 8)))
    assert np.allclose(typicality(x, 20), brute_typicality(x, 20), rtol=1e-4)
    assert np.allclose(typicality(x[:9], 20), brute_typicality(x[:9], 4), rtol=1e-4)


def test_each_pick_is_the_most_typical_unpicked_point_of_its_cluster(blobs):
    x, _ = blobs
    view = view_of(x[:300])
    table = make_selector("typiclust").select(view, Budget(total=9), seed=0)
    _, assignment = view.clustering(9)
    rows = np.searchsorted(view.ids, table["id"].to_numpy())
    picked = set()
    for row, cluster in zip(rows, table["cluster"], strict=True):
        members = np.array([r for r in np.flatnonzero(assignment == cluster) if r not in picked])
        scores = brute_typicality(x[members], min(20, len(members) // 2))
        assert row == members[np.argmax(scores)]
        picked.add(row)


def test_clusters_go_round_largest_first_and_tiny_clusters_last():
    rng = np.random.default_rng(1)
    centres = np.eye(8)[:3]
    sizes = [40, 25, 4]  # the 4-row cluster is at most min_cluster_size
    x = unit_rows(np.concatenate([c + rng.normal(scale=0.05, size=(n, 8))
                                  for c, n in zip(centres, sizes, strict=True)]))
    truth = np.repeat([0, 1, 2], sizes)
    view = view_of(x)
    view.cluster_fn = lambda *_, **__: (centres, truth)
    rows = np.searchsorted(view.ids, make_selector("typiclust").select(
        view, Budget(total=5), 0)["id"].to_numpy())
    # 40-row cluster, 25-row cluster, again, again; the 4-row cluster only when they run out
    assert truth[rows].tolist() == [0, 1, 0, 1, 0]
    rows = np.searchsorted(view.ids, make_selector("typiclust").select(
        view, Budget(total=69), 0)["id"].to_numpy())
    assert set(truth[rows[-4:]]) == {2}
