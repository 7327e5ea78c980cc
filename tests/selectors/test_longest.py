import numpy as np
import pytest

from curate.budget import resolve_budget
from curate.errors import CurateError
from curate.selectors import make_selector
from tests.conftest import unit_rows
from tests.selectors.helpers import view_of


def _view(lengths, labels=None, **scores):
    x = unit_rows(np.random.default_rng(0).normal(size=(len(lengths), 8)))
    return view_of(x, labels=labels, scores={"response_tokens": np.asarray(lengths), **scores})


def test_longest_picks_the_top_response_tokens():
    lengths = np.random.default_rng(1).permutation(50) + 3
    view = _view(lengths)
    table = make_selector("longest").select(view, resolve_budget(8, 50, None), seed=0)
    picked = lengths[np.searchsorted(view.ids, table["id"].to_numpy())]
    assert list(picked) == sorted(lengths, reverse=True)[:8]
    assert table["score"].to_list() == list(picked.astype(float))
    assert table["reason"][0] == "longest by response_tokens: rank 1"


def test_ties_go_by_keyed_order_whatever_the_row_order():
    lengths = np.array([5, 9, 9, 9, 2, 9, 1])
    view = _view(lengths)
    budget = resolve_budget(3, 7, None)
    ids = make_selector("longest").select(view, budget, seed=0)["id"].to_list()
    assert set(ids) <= {view.ids[i] for i in (1, 2, 3, 5)}
    order = np.random.default_rng(2).permutation(7)
    shuffled = _view(lengths[order])
    shuffled.ids, shuffled.hashes = view.ids[order], view.hashes[order]
    assert make_selector("longest").select(shuffled, budget, seed=0)["id"].to_list() == ids
    other_seeds = {tuple(make_selector("longest").select(view, budget, seed=s)["id"])
                   for s in range(8)}
    assert len(other_seeds) > 1  # the tie among the four 9s falls by (seed, row id)


def test_per_label_budget_takes_each_labels_longest():
    lengths = np.arange(40)
    labels = np.array(["a", "b"] * 20)
    view = _view(lengths, labels=labels)
    table = make_selector("longest").select(view, resolve_budget("3 per label", 40, labels), 0)
    picked = sorted(lengths[np.searchsorted(view.ids, table["id"].to_numpy())])
    assert picked == [34, 35, 36, 37, 38, 39]


def test_a_pool_column_can_stand_in_and_a_missing_one_is_refused():
    view, budget = _view(np.zeros(10), chars=np.arange(10.0)), resolve_budget(2, 10, None)
    table = make_selector("longest", {"score": "chars"}).select(view, budget, 0)
    assert table["score"].to_list() == [9.0, 8.0]
    with pytest.raises(CurateError, match=r"reads the score 'words'.*no stage computes it.*"
                                          r"select\.params\.score"):
        make_selector("longest", {"score": "words"}).select(view, budget, 0)
