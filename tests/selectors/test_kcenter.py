import itertools

import numpy as np

from curate.budget import Budget
from curate.selectors import SelectionView, make_selector
from tests.conftest import unit_rows


def covering_radius(x, centres):
    return float(np.max(np.min(1 - x @ x[centres].T, axis=1)))


def brute_force_greedy(x, first, n):
    chosen = [first]
    while len(chosen) < n:
        dist = np.min(1 - x @ x[chosen].T, axis=1)
        dist[chosen] = -np.inf
        chosen.append(int(np.argmax(dist)))
    return chosen


def test_matches_brute_force_greedy_and_two_approximation():
    x = unit_rows(np.random.default_rng(0).normal(size=(14, 3)))
    view = SelectionView(ids=np.array([f"r{i:02d}" for i in range(14)]), embeddings=x)
    table = make_selector("kcenter", {"chunk": 5}).select(view, Budget(total=4), seed=7)
    rows = [int(i[1:]) for i in table["id"]]
    assert rows == brute_force_greedy(x, rows[0], 4)
    optimum = min(covering_radius(x, list(c)) for c in itertools.combinations(range(14), 4))
    assert covering_radius(x, rows) <= 2 * optimum + 1e-6


def test_scores_are_the_distance_at_pick_time_and_do_not_increase():
    x = unit_rows(np.random.default_rng(1).normal(size=(200, 8)))
    view = SelectionView(ids=np.arange(200).astype(str), embeddings=x)
    scores = make_selector("kcenter").select(view, Budget(total=30), 0)["score"].to_numpy()[1:]
    assert np.all(np.diff(scores) <= 1e-6) and scores[0] > 0
