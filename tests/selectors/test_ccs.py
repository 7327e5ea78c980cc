"""ccs: hard prune, then even coverage of the difficulty strata (METHODS.md, DEALRec's
coverage-enhanced sampling, which is CCS's)."""

import numpy as np

from curate.budget import Budget
from curate.selectors import SelectionView, make_selector
from tests.conftest import unit_rows


def digits_view(flip=0):
    from sklearn.datasets import load_digits

    data = load_digits()
    x, y = unit_rows(data.data[:800] + 1e-3), data.target[:800].astype(str)
    flipped = np.random.default_rng(0).choice(len(y), flip, replace=False)
    y[flipped] = ((y[flipped].astype(int) + 3) % 10).astype(str)
    return SelectionView(ids=np.array([f"d{i:03d}" for i in range(len(x))]), embeddings=x,
                         labels=y), flipped


def test_the_hardest_tenth_is_never_taken_and_every_stratum_is_reached():
    view, _ = digits_view()
    table = make_selector("ccs", {"bins": 10}).select(view, Budget(total=200), 0)
    rows = np.array([int(i[1:]) for i in table["id"]])
    difficulty = view.score("difficulty")
    cut = np.sort(difficulty)[len(difficulty) - int(0.1 * len(difficulty))]
    assert (difficulty[rows] < cut).all()
    kept = difficulty[difficulty < cut]
    edges = np.linspace(kept.min(), kept.max(), 11)
    strata = np.clip(np.searchsorted(edges, difficulty[rows], side="right") - 1, 0, 9)
    occupied = np.clip(np.searchsorted(edges, kept, side="right") - 1, 0, 9)
    assert set(strata) == set(occupied)
    # thin strata are taken whole, so the picks are spread more evenly than the rows
    assert np.bincount(strata, minlength=10).std() < np.bincount(occupied, minlength=10).std()


def test_ccs_leaves_mislabelled_rows_out_where_random_does_not():
    view, flipped = digits_view(flip=60)
    ccs = make_selector("ccs").select(view, Budget(total=300), 0)
    random = make_selector("random").select(view, Budget(total=300), 0)
    bad = {f"d{i:03d}" for i in flipped}
    assert len(bad & set(ccs["id"])) < 0.5 * len(bad & set(random["id"]))
