"""ProbCover checks from METHODS.md section 6: graph and coverage against brute force."""

import numpy as np

from curate.budget import Budget
from curate.selectors import make_selector
from curate.selectors.probcover import ball_graph, ball_purity, greedy_cover
from tests.conftest import unit_rows
from tests.selectors.helpers import view_of


def brute_balls(x, delta):
    distance = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    return distance < delta


def test_ball_graph_matches_brute_force():
    x = unit_rows(np.random.default_rng(0).normal(size=(150, 6)))
    offsets, neighbours = ball_graph(x, 0.6, chunk=40)
    balls = brute_balls(x, 0.6)
    for i in range(len(x)):
        assert set(neighbours[offsets[i]:offsets[i + 1]]) == set(np.flatnonzero(balls[i]))


def test_coverage_after_each_pick_equals_a_brute_force_count():
    x = unit_rows(np.random.default_rng(1).normal(size=(200, 5)))
    balls = brute_balls(x, 0.7)
    chosen, gains = greedy_cover(*ball_graph(x, 0.7), n=12)
    covered = np.zeros(len(x), dtype=bool)
    for row, gain in zip(chosen, gains, strict=True):
        uncovered_in_ball = balls & ~covered[None, :]
        # the pick covers the most still-uncovered rows (brute force over every ball)
        assert gain == uncovered_in_ball[row].sum() == uncovered_in_ball.sum(axis=1).max()
        covered |= balls[row]


def test_everything_covered_then_random_fill(blobs):
    x, labels = blobs
    view = view_of(x)
    table = make_selector("probcover", {"delta": 0.9}).select(view, Budget(total=10), 0)
    reasons = table["reason"].to_list()
    rows = np.searchsorted(view.ids, table["id"].to_numpy())
    assert sorted(labels[rows[:6]]) == list(range(6))  # one ball per blob covers it
    assert all(r.startswith("random fill") for r in reasons[6:])


def test_purity_rule_picks_the_largest_pure_delta(blobs):
    x, labels = blobs
    deltas = [0.2, 0.5, 1.0, 1.3]
    centres = np.random.default_rng(0).choice(len(x), 600, replace=False)
    purity = ball_purity(x, labels, deltas, centres)
    # blobs are orthogonal axes (distance ~1.41 apart) of radius ~0.3: pure up to ~1
    assert purity[0] == purity[1] == 1.0 and purity[-1] < 0.95
    table = make_selector("probcover").select(view_of(x), Budget(total=6), 0)
    assert "delta" in table["reason"][0]


def test_inverted_file_graph_has_no_false_edges_and_few_misses():
    x = unit_rows(np.random.default_rng(2).normal(size=(3000, 8)))
    exact = ball_graph(x, 0.5)
    approx = ball_graph(x, 0.5, exact_below=1000)
    exact_edges = {(i, j) for i in range(len(x)) for j in exact[1][exact[0][i]:exact[0][i + 1]]}
    approx_edges = {(i, j) for i in range(len(x))
                    for j in approx[1][approx[0][i]:approx[0][i + 1]]}
    assert approx_edges <= exact_edges and len(approx_edges) >= 0.9 * len(exact_edges)
