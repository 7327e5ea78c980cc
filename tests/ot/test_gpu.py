import numpy as np
import pytest

from curate.scoring.ot import SinkhornSettings, candidate_potentials, sinkhorn_potentials
from tests.conftest import unit_rows


@pytest.mark.requires_gpu
def test_cuda_solver_matches_cpu():
    rng = np.random.default_rng(0)
    targets, candidates = unit_rows(rng.normal(size=(300, 32))), unit_rows(
        rng.normal(size=(5000, 32)))
    settings = dict(eps=0.1, tol=1e-9, max_iter=3000, chunk=1024, dtype="float64")
    _, cpu, _ = sinkhorn_potentials(targets, candidates, SinkhornSettings(device="cpu",
                                                                          **settings))
    _, gpu, _ = sinkhorn_potentials(targets, candidates, SinkhornSettings(device="cuda",
                                                                          **settings))
    assert np.allclose(gpu - gpu.mean(), cpu - cpu.mean(), atol=1e-6)
    anchored = candidate_potentials(targets, candidates, SinkhornSettings(
        device="cuda", anchor_size=2000))
    top = np.argsort(cpu)[:500]
    assert len(np.intersect1d(top, np.argsort(anchored)[:500])) > 400
