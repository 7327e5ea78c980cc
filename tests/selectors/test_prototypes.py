"""prototypes: the swap search against a brute-force one that rescores every candidate."""

import numpy as np
import pytest

from curate.budget import resolve_budget
from curate.selectors import SelectionView, make_selector
from tests.conftest import unit_rows


@pytest.fixture(scope="module")
def digits():
    """The first 240 scikit-learn digits (real 8x8 scans, 10 classes), as unit vectors."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return unit_rows(data.data[:240] + 1e-3), data.target[:240]


def view_of(x, labels):
    return SelectionView(ids=np.array([f"row-{i:04d}" for i in range(len(x))]), embeddings=x,
                         labels=labels.astype(str))


def rows_of(table):
    return np.array([int(i.split("-")[1]) for i in table["id"]])


def one_nn_correct(x, labels, picks):
    """Rows whose most similar pick has their label (ties to the first pick)."""
    nearest = np.argmax(x @ x[picks].T, axis=1)
    return int((labels[picks][nearest] == labels).sum())


def brute_search(x, labels, picks, sweeps):
    """Each pick in turn moves to the row of its label that most raises the 1-NN accuracy
    on every row, rescored from scratch (all rows are candidates and objective rows)."""
    picks = list(picks)
    for _ in range(sweeps):
        changed = False
        for i in range(len(picks)):
            label = labels[picks[i]]
            candidates = [r for r in np.flatnonzero(labels == label)
                          if r == picks[i] or r not in picks]
            scores = [one_nn_correct(x, labels, [*picks[:i], r, *picks[i + 1:]])
                      for r in candidates]
            best = int(np.argmax(scores))
            if scores[best] > scores[candidates.index(picks[i])]:
                picks[i], changed = candidates[best], True
        if not changed:
            break
    return picks


@pytest.mark.parametrize("spec", ["1 per label", "3 per label"])
def test_search_equals_brute_force(digits, spec):
    x, labels = digits
    view = view_of(x, labels)
    budget = resolve_budget(spec, len(x), view.labels)
    start = rows_of(make_selector("kmeans-nearest").select(view, budget, 0))
    everything = {"candidates": len(x), "objective_rows": len(x), "sweeps": 3}
    table = make_selector("prototypes", everything).select(view, budget, 0)
    found = rows_of(table)
    assert found.tolist() == brute_search(x, labels, start.tolist(), 3)
    # each pick's score: the rows whose most similar pick it is and that it labels right
    nearest = np.argmax(x @ x[found].T, axis=1)
    right = labels[found][nearest] == labels
    assert table["score"].to_list() == np.bincount(nearest[right], minlength=len(found)
                                                   ).tolist()
    assert one_nn_correct(x, labels, found) > one_nn_correct(x, labels, start)
    assert np.bincount(labels[found]).tolist() == np.bincount(labels[start]).tolist()


def test_no_sweep_is_kmeans_nearest(digits):
    x, labels = digits
    view = view_of(x, labels)
    budget = resolve_budget("2 per label", len(x), view.labels)
    table = make_selector("prototypes", {"sweeps": 0}).select(view, budget, 3)
    assert (rows_of(table).tolist()
            == rows_of(make_selector("kmeans-nearest").select(view, budget, 3)).tolist())
    assert table["reason"][0].startswith("kept: the picks' 1-NN rule labels")


def test_held_out_rows_gain_too(digits):
    """Searched on half the digits, the picks' 1-NN rule labels the other half better than
    kmeans-nearest's picks do."""
    x, labels = digits
    pool, held = np.arange(0, 240, 2), np.arange(1, 240, 2)
    view = view_of(x[pool], labels[pool])
    budget = resolve_budget("1 per label", len(pool), view.labels)
    start = pool[rows_of(make_selector("kmeans-nearest").select(view, budget, 0))]
    found = pool[rows_of(make_selector("prototypes").select(view, budget, 0))]

    def held_correct(picks):
        nearest = np.argmax(x[held] @ x[picks].T, axis=1)
        return int((labels[picks][nearest] == labels[held]).sum())

    assert held_correct(found) > held_correct(start)
