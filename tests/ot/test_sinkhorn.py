"""GOT-D's OT solver against POT, and the ranking properties of METHODS.md section 3."""

import numpy as np
import ot  # POT, the reference solver

from curate.budget import resolve_budget
from curate.scoring.ot import (
    SinkhornSettings,
    candidate_potentials,
    cluster_costs,
    sinkhorn_potentials,
)
from curate.selectors import SelectionView, make_selector
from tests.conftest import unit_rows


def problem(n=60, m=25, d=5, seed=0):
    rng = np.random.default_rng(seed)
    return unit_rows(rng.normal(size=(m, d))), unit_rows(rng.normal(size=(n, d)))


def test_potentials_match_pot_up_to_a_constant():
    targets, candidates = problem()
    eps = 0.1
    f, g, _ = sinkhorn_potentials(targets, candidates,
                                  SinkhornSettings(eps=eps, tol=1e-12, max_iter=5000, chunk=7,
                                                   dtype="float64"))
    cost = ot.dist(targets.astype(np.float64), candidates.astype(np.float64))
    _, log = ot.sinkhorn(np.full(25, 1 / 25), np.full(60, 1 / 60), cost, eps,
                         method="sinkhorn_log", numItermax=100000, stopThr=1e-13, log=True)
    # POT's plan is diag(u) K diag(v); as weighted duals, f = eps log u - eps log a, same for g
    pot_f = eps * log["log_u"] - eps * np.log(1 / 25)
    pot_g = eps * log["log_v"] - eps * np.log(1 / 60)
    shift = np.mean(g - pot_g)
    assert np.max(np.abs((g - shift) - pot_g)) < 1e-4
    assert np.max(np.abs((f + shift) - pot_f)) < 1e-4


def test_chunking_does_not_change_the_result():
    targets, candidates = problem(n=200)
    one = sinkhorn_potentials(targets, candidates, SinkhornSettings(chunk=1000, dtype="float64"))
    many = sinkhorn_potentials(targets, candidates, SinkhornSettings(chunk=13, dtype="float64"))
    assert np.allclose(one[1], many[1], atol=1e-9)


def test_ranking_ignores_a_constant_shift():
    targets, candidates = problem()
    g = sinkhorn_potentials(targets, candidates)[1]
    assert np.array_equal(np.argsort(g, kind="stable"), np.argsort(g + 3.7, kind="stable"))


def test_rare_mode_wanted_by_the_target_is_picked_first():
    """Pool: 1% mode A, 99% mode B; target 50/50. The top picks are mode A."""
    rng = np.random.default_rng(0)
    a_centre, b_centre = np.eye(8)[0], np.eye(8)[1]
    pool = unit_rows(np.vstack([a_centre + 0.1 * rng.normal(size=(20, 8)),
                                b_centre + 0.1 * rng.normal(size=(1980, 8))]))
    target = unit_rows(np.vstack([a_centre + 0.1 * rng.normal(size=(50, 8)),
                                  b_centre + 0.1 * rng.normal(size=(50, 8))]))
    g = candidate_potentials(target, pool)
    top = np.argsort(g, kind="stable")[:20]
    assert (top < 20).all()


def test_anchored_approximation_agrees_with_the_full_solve():
    rng = np.random.default_rng(1)
    centres = unit_rows(rng.normal(size=(10, 16)))
    pool = unit_rows(centres[rng.integers(10, size=6000)] + 0.3 * rng.normal(size=(6000, 16)))
    target = unit_rows(centres[rng.integers(3, size=300)] + 0.3 * rng.normal(size=(300, 16)))
    full = candidate_potentials(target, pool, SinkhornSettings(anchor_size=10000))
    anchored = candidate_potentials(target, pool, SinkhornSettings(anchor_size=1500))
    k = 300
    overlap = len(np.intersect1d(np.argsort(full)[:k], np.argsort(anchored)[:k])) / k
    assert overlap > 0.8


def test_cluster_cost_is_the_entropic_objective_of_pots_plan():
    """mean(f) + mean(g) equals <P, C> + eps KL(P | a x b) with POT's optimal plan P."""
    targets, candidates = problem(n=40, m=15)
    eps = 0.1
    settings = SinkhornSettings(eps=eps, tol=1e-12, max_iter=5000, dtype="float64")
    cost = cluster_costs(targets, candidates, np.zeros(40, dtype=np.int64), settings)[0]
    a, b = np.full(15, 1 / 15), np.full(40, 1 / 40)
    matrix = ot.dist(targets.astype(np.float64), candidates.astype(np.float64))
    plan = ot.sinkhorn(a, b, matrix, eps, method="sinkhorn_log", numItermax=100000,
                       stopThr=1e-13)
    objective = np.sum(plan * matrix) + eps * np.sum(plan * np.log(plan / np.outer(a, b)))
    assert abs(cost - objective) < 1e-6


def clustered_pool(seed=0):
    rng = np.random.default_rng(seed)
    centres = unit_rows(rng.normal(size=(8, 16)))
    assignment = np.repeat(np.arange(8), 100)
    pool = unit_rows(centres[assignment] + 0.2 * rng.normal(size=(800, 16)))
    target = unit_rows(centres[rng.integers(2, size=100)] + 0.2 * rng.normal(size=(100, 16)))
    return pool, assignment, target, centres


def test_cluster_costs_rank_the_target_clusters_first():
    pool, assignment, target, _ = clustered_pool()
    costs = cluster_costs(target, pool, assignment, SinkhornSettings(), sample=50)
    assert set(np.argsort(costs)[:2]) == {0, 1}
    with_empty = cluster_costs(target, pool, np.where(assignment == 3, 9, assignment))
    assert np.isinf(with_empty[3]) and np.isfinite(with_empty[9])


def test_prefilter_keeps_the_cheapest_clusters_and_the_budget():
    pool, assignment, target, centres = clustered_pool()
    view = SelectionView(ids=np.arange(800).astype(str), embeddings=pool, labels=None,
                         cluster_fn=lambda *_, **__: (centres, assignment), target=target)
    selector = make_selector("ot", {"keep_clusters": 0.25})
    assert selector.needs_clusters
    picked = selector.select(view, resolve_budget(150, 800), seed=0)["id"].cast(int).to_numpy()
    g = view.scores["ot_potential"]
    assert set(np.unique(assignment[np.isfinite(g)])) == {0, 1}
    assert set(np.unique(assignment[picked])) <= {0, 1}
    # a budget beyond the kept clusters' rows keeps more clusters instead of failing
    view.scores.clear()
    picked = selector.select(view, resolve_budget(350, 800), seed=0)
    assert picked.height == 350 and np.isfinite(view.scores["ot_potential"]).sum() >= 350
    # The pre-filter drops nothing the full solve wants: its top picks lie in the same
    # clusters. (Row-level ranks differ: fewer candidates make another OT problem.)
    full = make_selector("ot").select(SelectionView(
        ids=view.ids, embeddings=pool, labels=None, target=target), resolve_budget(150, 800), 0)
    assert set(np.unique(assignment[full["id"].cast(int).to_numpy()])) == {0, 1}


def test_default_float32_solve_stops_early_at_the_tight_answer():
    """The default tolerance must be reachable in float32 (a tighter one sits below its
    rounding noise and runs to max_iter) and still give the converged potentials."""
    targets, candidates = problem(n=500, m=40, d=16)
    _, g, iterations = sinkhorn_potentials(targets, candidates)
    assert iterations < 200
    _, tight, _ = sinkhorn_potentials(targets, candidates, SinkhornSettings(
        tol=1e-12, max_iter=20000, dtype="float64"))
    assert np.max(np.abs((g - g.mean()) - (tight - tight.mean()))) < 1e-4
