import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score

from curate.config import ClusterConfig
from curate.errors import CurateError
from curate.index import cluster_embeddings, fit_centroids
from curate.index.kmeans import fit_and_assign, resolve_backend
from curate.index.torch_kmeans import fit_centroids_torch, nearest_torch
from curate.store import ArtifactCache
from tests.conftest import unit_rows


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    """1,797 real 8x8 digit images, L2-normalised pixels."""
    return unit_rows(load_digits().data)


@pytest.mark.parametrize("spherical", [True, False])
def test_recovers_separated_clusters(blobs, spherical):
    x, labels = blobs
    centroids, _ = fit_centroids_torch(x, 6, niter=30, nredo=3, seed=0, spherical=spherical)
    assignment = nearest_torch(x, centroids, spherical=spherical)
    assert adjusted_rand_score(labels, assignment) == 1.0
    if spherical:
        assert np.allclose(np.linalg.norm(centroids, axis=1), 1, atol=1e-5)


def test_converged_centroids_are_a_lloyd_fixed_point(digits):
    centroids, objective = fit_centroids_torch(digits, 10, niter=200, nredo=1, seed=3)
    scores = digits @ centroids.T
    assignment = nearest_torch(digits, centroids, spherical=True)
    assert np.array_equal(assignment, scores.argmax(1))  # brute-force assignment
    for c in range(10):
        members = digits[assignment == c]
        assert len(members) > 0
        mean = members.sum(0) / np.linalg.norm(members.sum(0))
        assert np.allclose(centroids[c], mean, atol=1e-5)
    assert objective == pytest.approx(scores.max(1).sum(), rel=1e-5)


@pytest.mark.parametrize("spherical", [True, False])
def test_objective_matches_faiss(digits, spherical):
    ours = fit_centroids_torch(digits, 20, niter=50, nredo=3, seed=0, spherical=spherical)[1]
    faiss = fit_centroids(digits, 20, niter=50, nredo=3, seed=0, spherical=spherical)[1]
    # spherical: summed inner product, higher is better; L2: inertia, lower is better
    assert ours >= 0.99 * faiss if spherical else ours <= 1.02 * faiss


def test_sampled_training_and_same_seed_same_centroids(digits):
    first = fit_centroids_torch(digits, 8, niter=20, nredo=2, seed=5, max_points_per_centroid=40)
    again = fit_centroids_torch(digits, 8, niter=20, nredo=2, seed=5, max_points_per_centroid=40)
    other = fit_centroids_torch(digits, 8, niter=20, nredo=2, seed=6, max_points_per_centroid=40)
    assert np.array_equal(first[0], again[0]) and not np.array_equal(first[0], other[0])


def test_empty_clusters_are_split_not_left_nan():
    # 97 copies of one row: the first centroids are copies of it, so clusters empty at once
    rows = unit_rows(np.eye(4) + 0.5)
    x = np.concatenate([np.repeat(rows[:1], 97, 0), rows[1:]])
    centroids, _ = fit_centroids_torch(x, 4, niter=10, nredo=1, seed=0)
    assert np.isfinite(centroids).all()
    assert len(np.unique(centroids.round(6), axis=0)) == 4
    assert np.allclose(np.linalg.norm(centroids, axis=1), 1, atol=1e-5)


def test_cluster_stage_on_the_torch_backend_keys_apart(tmp_path, blobs):
    x, labels = blobs
    cache = ArtifactCache(tmp_path)
    torch_ref = cluster_embeddings(lambda: x, len(x), "emb", ClusterConfig(k=6, niter=20, nredo=2,
                                                           backend="torch"), 0, cache)
    faiss_ref = cluster_embeddings(lambda: x, len(x), "emb",
                                   ClusterConfig(k=6, niter=20, nredo=2), 0, cache)
    assert torch_ref.key != faiss_ref.key
    assert cache.manifest("cluster", torch_ref.key)["backend"] == "torch"
    assert adjusted_rand_score(labels, torch_ref.load()[1]) == 1.0


def test_backend_resolution(blobs):
    import torch

    from curate.index.kmeans import gpu_available

    expected = ("faiss-gpu" if gpu_available() else
                "torch" if torch.cuda.is_available() else "faiss")
    assert resolve_backend("auto") == expected
    assert fit_and_assign(blobs[0], ClusterConfig(k=6, backend="torch"), 0)[3] == "torch"
    if not gpu_available():
        with pytest.raises(CurateError, match="faiss-gpu"):
            resolve_backend("faiss-gpu")


@pytest.mark.requires_gpu
def test_cuda_lloyd_matches_the_cpu_objective(digits, monkeypatch):
    import curate.index.torch_kmeans as torch_kmeans

    cuda = fit_centroids_torch(digits, 20, niter=50, nredo=3, seed=0)[1]
    monkeypatch.setattr(torch_kmeans, "torch_device", lambda: __import__("torch").device("cpu"))
    cpu = fit_centroids_torch(digits, 20, niter=50, nredo=3, seed=0)[1]
    assert cuda == pytest.approx(cpu, rel=0.01)
