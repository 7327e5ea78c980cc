import numpy as np

from curate.report import projection_points, write_projection
from tests.conftest import unit_rows


def shifted_problem():
    rng = np.random.default_rng(0)
    pool = unit_rows(rng.normal(size=(400, 12)))
    target = unit_rows(np.eye(12)[0] * 3 + rng.normal(size=(50, 12)))
    selected = np.argsort(-pool[:, 0])[:40]  # the pool rows nearest the target's direction
    return pool, target, selected


def test_selection_points_are_the_selected_pool_points():
    pool, target, selected = shifted_problem()
    points = projection_points(pool, target, selected)
    assert np.allclose(points["selection"], points["pool"][selected])
    assert points["target"].shape == (50, 2)


def test_projection_keeps_the_shift_visible():
    pool, target, selected = shifted_problem()
    points = projection_points(pool, target, selected)
    centre = points["target"].mean(0)
    to_selection = np.linalg.norm(points["selection"].mean(0) - centre)
    to_pool = np.linalg.norm(points["pool"].mean(0) - centre)
    assert to_selection < 0.5 * to_pool


def test_large_pools_are_sampled_and_the_png_is_written(tmp_path):
    rng = np.random.default_rng(1)
    pool = unit_rows(rng.normal(size=(6000, 8)))
    points = projection_points(pool, pool[:10], np.arange(5), max_pool_points=1000)
    assert len(points["pool"]) == 1000 and len(points["selection"]) == 5
    path = write_projection(tmp_path / "p.png", pool, pool[:10], np.arange(5))
    assert path.read_bytes().startswith(b"\x89PNG")
