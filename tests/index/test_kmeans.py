import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from curate.config import ClusterConfig
from curate.index import cluster_embeddings, fit_centroids, nearest
from curate.store import ArtifactCache


def test_recovers_separated_clusters(blobs):
    x, labels = blobs
    centroids, _ = fit_centroids(x, 6, niter=30, nredo=3, seed=0)
    assignment, _ = nearest(x, centroids)
    assert adjusted_rand_score(labels, assignment[:, 0]) == 1.0
    assert np.allclose(np.linalg.norm(centroids, axis=1), 1, atol=1e-5)  # spherical


@pytest.mark.parametrize("inner_product", [True, False])
def test_chunked_search_equals_brute_force(blobs, inner_product):
    x, _ = blobs
    centres = x[::50]
    indices, scores = nearest(x, centres, k=3, inner_product=inner_product, chunk=77)
    if inner_product:
        brute = x @ centres.T
        order = np.argsort(-brute, axis=1)[:, :3]
    else:
        brute = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
        order = np.argsort(brute, axis=1)[:, :3]
    assert np.array_equal(indices, order)
    assert np.allclose(scores, np.take_along_axis(brute, order, 1), atol=1e-4)


def test_k_larger_than_pool_is_capped():
    x = np.eye(4, dtype=np.float32)
    centroids, _ = fit_centroids(x, 10, niter=5, nredo=1)
    assert centroids.shape == (4, 4)


def test_cluster_stage_caches_by_content(tmp_path, blobs):
    x, _ = blobs
    cache = ArtifactCache(tmp_path)
    cfg = ClusterConfig(k=6, niter=10, nredo=1)
    first = cluster_embeddings(lambda: x, len(x), "emb-key", cfg, 0, cache)
    centroids, assignment = first.load()
    assert centroids.shape == (6, 16) and assignment.shape == (600,)

    def must_not_load():
        raise AssertionError("a cache hit loaded the vectors")

    again = cluster_embeddings(must_not_load, len(x), "emb-key", cfg, 0, cache)
    assert again.cache_hit and again.key == first.key
    assert cluster_embeddings(lambda: x, len(x), "emb-key", cfg, 1, cache).key != first.key
    assert cluster_embeddings(lambda: x, len(x), "other", cfg, 0, cache).key != first.key


@pytest.mark.requires_gpu
def test_gpu_kmeans_matches_cpu_objective(blobs):
    x, labels = blobs
    centroids, _ = fit_centroids(x, 6, niter=30, nredo=3, seed=0, use_gpu=True)
    assignment, _ = nearest(x, centroids, use_gpu=True)
    assert adjusted_rand_score(labels, assignment[:, 0]) == 1.0
