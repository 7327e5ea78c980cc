"""Difficulty and uncertainty from the cross-fitted probe, against scikit-learn and on
mislabelled real rows."""

import numpy as np
import pytest

from curate.exec.keys import id_hashes, row_keys
from curate.scoring.difficulty import DRAW, probe_scores
from tests.conftest import unit_rows


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    x, y = unit_rows(data.data[:600] + 1e-3), data.target[:600].astype(str)
    return x, y, id_hashes(np.array([f"d{i}" for i in range(len(x))]))


def test_margins_equal_scikit_learns_ridge_classifier_on_the_other_folds(digits):
    from sklearn.linear_model import RidgeClassifier

    x, y, hashes = digits
    scores = probe_scores(x, y, hashes, folds=4, alpha=1.0)
    fold_of = row_keys(0, hashes, DRAW) % np.uint64(4)
    for fold in range(4):
        rows, train = fold_of == fold, fold_of != fold
        model = RidgeClassifier(alpha=1.0).fit(x[train], y[train])
        outputs = model.decision_function(x[rows])
        own = outputs[np.arange(rows.sum()), np.searchsorted(model.classes_, y[rows])]
        rival = outputs.copy()
        rival[np.arange(rows.sum()), np.searchsorted(model.classes_, y[rows])] = -np.inf
        assert np.allclose(scores["difficulty"][rows], rival.max(axis=1) - own, atol=1e-4)
        top = np.sort(outputs, axis=1)[:, -2:]
        assert np.allclose(scores["uncertainty"][rows],
                           1 - np.minimum(top[:, 1] - top[:, 0], 1), atol=1e-4)


def test_mislabelled_rows_are_the_hard_ones(digits):
    x, y, hashes = digits
    flipped = np.random.default_rng(0).choice(len(y), 30, replace=False)
    noisy = y.copy()
    noisy[flipped] = ((y[flipped].astype(int) + 1) % 10).astype(str)
    difficulty = probe_scores(x, noisy, hashes)["difficulty"]
    assert (difficulty[flipped] > 0).mean() > 0.9  # the probe disagrees with a wrong label
    hardest = np.argsort(difficulty)[-60:]
    assert len(np.intersect1d(hardest, flipped)) >= 27


def test_scores_follow_the_ids_not_the_row_order(digits):
    x, y, hashes = digits
    order = np.random.default_rng(1).permutation(len(y))
    before = probe_scores(x, y, hashes)["difficulty"]
    after = probe_scores(x[order], y[order], hashes[order])["difficulty"]
    assert np.allclose(before[order], after, atol=1e-6)


def test_one_label_is_trivially_easy(digits):
    x, _, hashes = digits
    scores = probe_scores(x, np.full(len(x), "a"), hashes)
    assert (scores["difficulty"] == -1).all() and (scores["uncertainty"] == 0).all()
