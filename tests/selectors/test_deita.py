import numpy as np

from curate.budget import resolve_budget
from curate.selectors import make_selector
from curate.selectors.deita import diversity_filter
from tests.conftest import unit_rows
from tests.selectors.helpers import view_of


def _brute_force(x, quality, keys, n, threshold, ceiling=np.inf):
    """DEITA by the book: sort (rows above the ceiling last), keep while similar to none."""
    order = sorted(range(len(x)), key=lambda i: (quality[i] > ceiling, -quality[i], keys[i]))
    kept = []
    for i in order:
        if len(kept) < n and all(float(x[i] @ x[j]) <= threshold for j in kept):
            kept.append(i)
    return kept + [i for i in order if i not in kept][:n - len(kept)]


def _pool(n=120, d=6, seed=0):
    """Rows in a few tight groups, so the filter drops many."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(8, d))
    return unit_rows(centres[rng.integers(0, 8, n)] + rng.normal(scale=0.3, size=(n, d)))


def test_the_filter_matches_a_brute_force_loop_across_block_edges():
    x = _pool()
    order = np.random.default_rng(3).permutation(len(x))
    for n, block in ((5, 7), (20, 3), (200, 16)):
        fast = diversity_filter(x, order, n, 0.8, block=block)
        quality = -np.argsort(order).astype(float)  # the brute force sorts back into `order`
        expected = _brute_force(x, quality, np.zeros(len(x)), n, 0.8)
        assert list(fast) == expected[:len(fast)] and len(fast) <= n


def test_deita_keeps_no_two_rows_above_the_threshold_and_matches_brute_force():
    x = _pool(seed=1)
    quality = np.random.default_rng(4).uniform(0.3, 1.3, len(x))
    view = view_of(x, scores={"ifd": quality})
    for threshold, n in ((0.9, 6), (0.5, 10), (0.95, 40)):
        table = make_selector("deita", {"threshold": threshold}).select(
            view, resolve_budget(n, len(x), None), seed=0)
        rows = np.searchsorted(view.ids, table["id"].to_numpy())
        expected = _brute_force(x, quality, view.keys("deita"), n, threshold, ceiling=1.0)
        assert list(rows) == expected
        filtered = ~table["reason"].str.contains("a fill").to_numpy()
        similar = x[rows[filtered]] @ x[rows[filtered]].T
        assert (similar[np.triu_indices(filtered.sum(), 1)] <= threshold).all()


def test_the_filter_suffices_on_scattered_rows_and_ifd_above_one_ranks_last():
    x = unit_rows(np.eye(30) + 0.01)  # nearly orthogonal: the filter keeps every row
    ifd = np.linspace(0.2, 1.4, 30)
    view = view_of(x, scores={"ifd": ifd})
    table = make_selector("deita").select(view, resolve_budget(12, 30, None), seed=0)
    assert not table["reason"].str.contains("a fill").any()
    picked = table["score"].to_numpy()
    assert (picked <= 1).all() and list(picked) == sorted(ifd[ifd <= 1], reverse=True)[:12]


def test_a_filter_that_runs_out_fills_by_score_and_says_so():
    base = unit_rows(np.random.default_rng(5).normal(size=(3, 8)))
    x = np.repeat(base, 10, axis=0)  # 30 rows, 3 distinct vectors
    quality = np.arange(30.0)
    view = view_of(x, scores={"quality": quality})
    table = make_selector("deita", {"quality": "quality"}).select(
        view, resolve_budget(5, 30, None), seed=0)
    reasons = table["reason"].to_list()
    assert sum("a fill" not in r for r in reasons) == 3  # one per distinct vector
    assert all("a fill: the similarity filter kept fewer rows than the budget" in r
               for r in reasons[3:])
    assert table["score"].to_list()[3:] == [28.0, 27.0]  # the best rows the filter dropped


def test_per_label_budgets_filter_inside_each_label():
    x = _pool(seed=2)
    labels = np.array(["a", "b", "c"] * 40)
    view = view_of(x, labels=labels, scores={"ifd": np.random.default_rng(6).random(120)})
    table = make_selector("deita").select(view, resolve_budget("4 per label", 120, labels), 0)
    picked = labels[np.searchsorted(view.ids, table["id"].to_numpy())]
    assert sorted(picked) == sorted(["a", "b", "c"] * 4)


def test_the_picks_ignore_row_order():
    x = _pool(seed=3)
    quality = np.round(np.random.default_rng(7).random(len(x)), 1)  # ties, broken by keys
    view = view_of(x, scores={"ifd": quality})
    budget = resolve_budget(15, len(x), None)
    ids = make_selector("deita").select(view, budget, seed=2)["id"].to_list()
    order = np.random.default_rng(8).permutation(len(x))
    shuffled = view_of(x[order], scores={"ifd": quality[order]})
    shuffled.ids, shuffled.hashes = view.ids[order], view.hashes[order]
    assert make_selector("deita").select(shuffled, budget, seed=2)["id"].to_list() == ids
