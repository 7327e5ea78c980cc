"""DEALRec checks from METHODS.md section 2."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from curate.budget import Budget
from curate.exec.keys import id_hashes, row_keys
from curate.selectors import SelectionView, make_selector
from curate.selectors.dealrec import coverage_sample, minmax


def keys(n: int) -> np.ndarray:
    return row_keys(0, id_hashes(np.arange(n).astype(str)), "dealrec")


@given(scores=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=300), data=st.data())
def test_returns_exactly_m_unique_rows(scores, data):
    scores = np.array(scores)
    m = data.draw(st.integers(1, len(scores)))
    rows, _ = coverage_sample(scores, m, keys(len(scores)))
    assert len(rows) == m and len(np.unique(rows)) == m


def test_small_bins_are_taken_whole_and_the_top_is_pruned():
    rng = np.random.default_rng(0)
    # A dense low-score mass and a sparse high tail: 1,000 rows in [0, 1), 20 rows in [9, 10].
    scores = np.concatenate([rng.uniform(0, 1, 1000), rng.uniform(9, 10, 20)])
    rows, bins = coverage_sample(scores, 100, keys(len(scores)), prune=0.01, n_bins=10)
    assert scores[rows].max() <= np.sort(scores)[-11]  # top 1% (10 rows) never chosen
    tail = np.flatnonzero(scores >= 9)
    kept_tail = np.setdiff1d(tail, np.argsort(scores)[-10:])
    assert set(kept_tail) <= set(rows)  # the sparse bin gives all its rows
    assert (bins >= 0).all()


def test_budget_larger_than_what_survives_the_prune():
    rows, bins = coverage_sample(np.arange(10.0), 10, keys(10), prune=0.3)
    assert sorted(rows) == list(range(10)) and (bins == -1).sum() == 3


def test_lambda_zero_is_influence_only():
    rng = np.random.default_rng(0)
    influence, effort = rng.normal(size=400), rng.normal(size=400)
    view = SelectionView(ids=np.arange(400).astype(str), embeddings=np.eye(400, 8),
                         scores={"influence": influence, "effort": effort})
    chosen = make_selector("dealrec", {"lam": 0.0}).select(view, Budget(total=40), 3)
    alone = SelectionView(ids=view.ids, embeddings=view.embeddings,
                          scores={"influence": influence, "effort": np.zeros(400)})
    same = make_selector("dealrec", {"lam": 0.0}).select(alone, Budget(total=40), 3)
    assert chosen["id"].to_list() == same["id"].to_list()
    assert np.allclose(chosen["score"].to_numpy(), minmax(influence)[chosen["id"].cast(int)])


def test_scores_come_from_the_surrogate_when_missing(blobs):
    x, labels = blobs
    view = SelectionView(ids=np.arange(600).astype(str), embeddings=x, labels=labels.astype(str))
    table = make_selector("dealrec").select(view, Budget(total=30), 0)
    assert table.height == 30
    assert set(view.scores) == {"influence", "effort"} and (view.scores["effort"] > 0).all()
