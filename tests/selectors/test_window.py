"""window (BWS): a slice of the difficulty ranking, its start chosen by validation."""

import re

import numpy as np

from curate.budget import Budget, resolve_budget
from curate.selectors import make_selector
from curate.selectors.window import window_rows
from tests.selectors.test_ccs import digits_view


def rows_of(table):
    return np.array([int(i[1:]) for i in table["id"]])


def test_window_rows_are_consecutive_ranks_and_stay_inside():
    difficulty = np.array([0.5, -1.0, 0.2, 0.9, -0.3])
    keys = np.arange(5, dtype=np.uint64)
    assert window_rows(difficulty, keys, 2, 0.0).tolist() == [1, 4]
    assert window_rows(difficulty, keys, 2, 0.4).tolist() == [2, 0]
    assert window_rows(difficulty, keys, 2, 0.9).tolist() == [0, 3]  # moved back


def test_a_given_start_takes_that_slice_of_each_labels_ranking():
    view, _ = digits_view()
    budget = resolve_budget("20 per label", len(view), view.labels)
    table = make_selector("window", {"start": 0.5}).select(view, budget, 0)
    difficulty, rows = view.score("difficulty"), rows_of(table)
    for label in np.unique(view.labels):
        mine = np.flatnonzero(view.labels == label)
        ranks = np.argsort(np.argsort(difficulty[mine]))
        picked = ranks[np.isin(mine, rows)]
        first = int(0.5 * len(mine))
        assert sorted(picked.tolist()) == list(range(first, first + 20))


def test_validation_prefers_clean_rows_when_the_hard_end_is_mislabelled():
    """With a tenth of the labels flipped the hardest ranks are mostly wrong labels: the
    validated window starts below them, and its reason shows every start it scored."""
    view, flipped = digits_view(flip=80)
    table = make_selector("window").select(view, Budget(total=160), 0)
    reason = table["reason"][0]
    assert "by validation on 160 held-out rows" in reason
    assert int(re.search(r"start (\d+)% by validation", reason).group(1)) <= 60
    hard_end = make_selector("window", {"start": 0.8}).select(view, Budget(total=160), 0)
    assert len(np.intersect1d(rows_of(table), flipped)) < 8
    assert len(np.intersect1d(rows_of(hard_end), flipped)) > 40


def test_without_labels_the_easy_end_and_why():
    view, _ = digits_view()
    view.labels = None
    table = make_selector("window").select(view, Budget(total=30), 0)
    assert "start 0 without validation: the pool has no labels" in table["reason"][0]
