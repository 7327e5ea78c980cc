import numpy as np

from curate.budget import Budget
from curate.selectors import make_selector
from curate.selectors.semdedup import dedup_cluster
from tests.conftest import unit_rows
from tests.selectors.helpers import fixed_clusters


def near_duplicates(n_distinct=20, copies=3, noise=1e-3, seed=0):
    rng = np.random.default_rng(seed)
    base = unit_rows(rng.normal(size=(n_distinct, 16)))
    x = unit_rows(np.repeat(base, copies, axis=0) + rng.normal(scale=noise,
                                                               size=(n_distinct * copies, 16)))
    return x, np.repeat(np.arange(n_distinct), copies)


def test_keeps_one_of_each_near_duplicate_group():
    x, group = near_duplicates()
    keep, _ = dedup_cluster(x, unit_rows(x.mean(0, keepdims=True))[0], threshold=0.95)
    assert keep.sum() == 20 and sorted(group[keep]) == list(range(20))


def test_kept_points_are_pairwise_below_threshold():
    x = unit_rows(np.random.default_rng(3).normal(size=(300, 4)))  # low-d: many close pairs
    keep, redundancy = dedup_cluster(x, unit_rows(x.mean(0, keepdims=True))[0], 0.9)
    sims = x[keep] @ x[keep].T
    np.fill_diagonal(sims, -1)
    assert sims.max() <= 0.9 and (redundancy[~keep] > 0.9).all()


def test_selection_avoids_duplicates_then_refills():
    x, group = near_duplicates()
    view = fixed_clusters(x, np.zeros(len(x), dtype=np.int64))
    table = make_selector("semdedup").select(view, Budget(total=20), 0)
    rows = np.searchsorted(view.ids, table["id"].to_numpy())
    assert len(set(group[rows])) == 20  # one per near-duplicate group
    bigger = make_selector("semdedup").select(view, Budget(total=25), 0)
    assert bigger.height == 25 and bigger["reason"].str.starts_with("refill").sum() == 5
