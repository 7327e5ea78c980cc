"""bilevel: the greedy's closed-form loss changes against ridge refits, on real digits."""

import numpy as np
import pytest

from curate.budget import resolve_budget
from curate.selectors import SelectionView, make_selector
from curate.selectors.bilevel import _features, _Greedy
from tests.conftest import unit_rows


@pytest.fixture(scope="module")
def digits():
    """300 scikit-learn digits (real 8x8 scans) of 4 classes, as unit vectors."""
    from sklearn.datasets import load_digits

    data = load_digits()
    keep = np.flatnonzero(data.target < 4)[:300]
    return unit_rows(data.data[keep] + 1e-3), data.target[keep]


def outer_loss(x, y, picked, outer, ridge):
    """The ridge fitted on `picked` from scratch, its squared error on the `outer` rows."""
    a = x[picked].T @ x[picked] + ridge * np.eye(x.shape[1])
    w = np.linalg.solve(a, x[picked].T @ y[picked])
    return float(((x[outer] @ w - y[outer]) ** 2).sum())


def brute_greedy(x, y, n, outer, ridge):
    """Each step refits the ridge for every candidate and keeps the lowest outer loss."""
    picked = []
    for _ in range(n):
        losses = [np.inf if j in picked else outer_loss(x, y, [*picked, j], outer, ridge)
                  for j in range(len(x))]
        picked.append(int(np.argmin(losses)))
    return picked


def coded(labels):
    y = np.full((len(labels), labels.max() + 1), -1.0)
    y[np.arange(len(labels)), labels] = 1.0
    return y


@pytest.mark.parametrize("ridge", [0.1, 1.0])
def test_greedy_equals_refitting_every_candidate(digits, ridge):
    x, labels = digits
    x, labels = _features(x[:120]), labels[:120]
    outer = np.arange(0, 120, 2)
    rows, _ = _Greedy(x, labels, 4, x[outer], labels[outer], ridge).run(8, None)
    assert rows.tolist() == brute_greedy(x, coded(labels), 8, outer, ridge)


def test_gains_are_the_outer_losses_decrements_after_many_picks(digits):
    x, labels = digits
    x, y = _features(x), coded(labels)
    outer = np.arange(len(x))
    rows, gains = _Greedy(x, labels, 4, x[outer], labels[outer], 1.0).run(60, None)
    before = outer_loss(x, y, [], outer, 1.0)
    after = [outer_loss(x, y, rows[:k + 1].tolist(), outer, 1.0) for k in (0, 29, 59)]
    assert np.allclose(after, before - np.cumsum(gains)[[0, 29, 59]], rtol=1e-8)
    assert (gains > 0).all()


def test_label_budgets_and_ids(digits):
    x, labels = digits
    view = SelectionView(ids=np.array([f"row-{i:04d}" for i in range(len(x))]), embeddings=x,
                         labels=labels.astype(str))
    budget = resolve_budget("3 per label", len(x), view.labels)
    table = make_selector("bilevel").select(view, budget, 0)
    rows = np.array([int(i.split("-")[1]) for i in table["id"]])
    assert np.bincount(labels[rows]).tolist() == [3] * 4
    assert table["reason"][0].startswith("bilevel pick 1: lowers")
    # the same rows in another order: the same ids
    order = np.random.default_rng(0).permutation(len(x))
    shuffled = SelectionView(ids=view.ids[order], embeddings=x[order],
                             labels=view.labels[order])
    again = make_selector("bilevel").select(shuffled, budget, 0)
    assert again["id"].to_list() == table["id"].to_list()


def test_its_picks_fit_held_out_rows_better_than_random(digits):
    """The outer loss is the pool's fit: the ridge on 3 picks per label labels held-out
    digits better than on random picks of the same labels, on every one of 10 draws."""
    x, labels = digits
    pool, held = np.arange(0, 300, 2), np.arange(1, 300, 2)
    view = SelectionView(ids=np.array([f"row-{i:04d}" for i in pool]), embeddings=x[pool],
                         labels=labels[pool].astype(str))
    budget = resolve_budget("3 per label", len(pool), view.labels)
    picked = pool[[int(i.split("-")[1]) // 2 for i in
                   make_selector("bilevel").select(view, budget, 0)["id"]]]
    feats, y = _features(x), coded(labels)
    rng = np.random.default_rng(0)
    chosen = outer_loss(feats, y, picked.tolist(), held, 1.0)
    for _ in range(10):
        drawn = np.concatenate([rng.choice(pool[labels[pool] == c], 3, replace=False)
                                for c in range(4)])
        assert chosen < outer_loss(feats, y, drawn.tolist(), held, 1.0)


def test_without_labels_the_clusters_are_the_labels(digits):
    x, labels = digits
    ids = np.array([f"row-{i:04d}" for i in range(len(x))])
    clusters = labels[::-1].copy()  # any assignment: the selector must use it
    view = SelectionView(ids=ids, embeddings=x,
                         cluster_fn=lambda *_, **__: (np.zeros((4, x.shape[1])), clusters))
    labelled = SelectionView(ids=ids, embeddings=x, labels=clusters.astype(str))
    budget = resolve_budget(12, len(x), None)
    assert (make_selector("bilevel").select(view, budget, 0)["id"].to_list()
            == make_selector("bilevel").select(labelled, budget, 0)["id"].to_list())


def test_a_capped_candidate_set_still_meets_every_quota(digits):
    """60 candidates of 300, topped up per label: the quotas hold, and the picks differ."""
    x, labels = digits
    view = SelectionView(ids=np.array([f"row-{i:04d}" for i in range(len(x))]), embeddings=x,
                         labels=labels.astype(str))
    budget = resolve_budget("5 per label", len(x), view.labels)
    table = make_selector("bilevel", {"candidate_rows": 60}).select(view, budget, 0)
    rows = np.array([int(i.split("-")[1]) for i in table["id"]])
    assert np.bincount(labels[rows]).tolist() == [5] * 4
    uncapped = make_selector("bilevel").select(view, budget, 0)
    assert table["id"].to_list() != uncapped["id"].to_list()
