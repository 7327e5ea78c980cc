"""semdedup's blockwise dedup_cluster (issue 14) keeps exactly what the point-by-point loop
kept, with the same redundancies."""

import numpy as np
import pytest

from benchmarks.semdedup_speed import dedup_cluster_loop
from curate.selectors.semdedup import dedup_cluster


def clustered(n, d, seed, spread):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(n // 20, 1), d))
    x = centres[rng.integers(len(centres), size=n)] + rng.normal(scale=spread, size=(n, d))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    centroid = x.mean(0)
    return x, centroid / np.linalg.norm(centroid)


@pytest.mark.parametrize("block", [1, 7, 64, 1024])
@pytest.mark.parametrize(("seed", "spread", "threshold"),
                         [(0, 0.05, 0.95), (1, 0.2, 0.9), (2, 0.5, 0.8), (3, 0.02, 0.99)])
def test_blocks_keep_what_the_loop_kept(block, seed, spread, threshold):
    x, centroid = clustered(300, 16, seed, spread)
    x[10] = x[3]  # exact copies too
    x[200] = x[3]
    keep, redundancy = dedup_cluster(x, centroid, threshold, block=block)
    loop_keep, loop_redundancy = dedup_cluster_loop(x, centroid, threshold)
    assert 0 < loop_keep.sum() < len(x)
    assert np.array_equal(keep, loop_keep)
    assert np.allclose(redundancy, loop_redundancy, atol=1e-5)


def test_small_blocks_of_the_kept_points_bound_memory():
    x, centroid = clustered(2000, 8, 4, 0.3)
    keep, redundancy = dedup_cluster(x, centroid, 0.97, block=5)  # 80-row slices of kept
    loop_keep, loop_redundancy = dedup_cluster_loop(x, centroid, 0.97)
    assert np.array_equal(keep, loop_keep) and np.allclose(redundancy, loop_redundancy, atol=1e-5)
