"""GOT-D's OT solver against POT, and the ranking properties of METHODS.md section 3."""

import numpy as np
import pytest

from curate.scoring.ot import SinkhornSettings, candidate_potentials, sinkhorn_potentials
from tests.conftest import unit_rows

ot = pytest.importorskip("ot")


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
