"""k-means with faiss (GPU when present) and chunked nearest-centroid assignment."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curate.config import ClusterConfig
from curate.store import ArtifactCache, atomic_path, hash_json

STAGE = "cluster"
log = logging.getLogger(__name__)


def gpu_available() -> bool:
    import faiss

    return hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0


def fit_centroids(x: np.ndarray, k: int, *, niter: int = 300, nredo: int = 5, seed: int = 0,
                  spherical: bool = True, max_points_per_centroid: int = 256,
                  use_gpu: bool = False) -> tuple[np.ndarray, float]:
    """Fit k centroids; faiss samples at most k * max_points_per_centroid training points.

    Returns (centroids, objective). For spherical k-means the objective is the summed
    inner product to the centroid (higher is better); otherwise the squared L2 inertia.
    """
    import faiss

    x = np.ascontiguousarray(x, dtype=np.float32)
    k = max(1, min(k, len(x)))
    kmeans = faiss.Kmeans(x.shape[1], k, niter=niter, nredo=nredo, seed=seed,
                          spherical=spherical, max_points_per_centroid=max_points_per_centroid,
                          # only silences faiss's "please provide at least 39k points" warning
                          min_points_per_centroid=1,
                          gpu=use_gpu, verbose=False)
    kmeans.train(x)
    return kmeans.centroids.copy(), float(kmeans.obj[-1]) if len(kmeans.obj) else 0.0


def nearest(x: np.ndarray, centers: np.ndarray, k: int = 1, *, inner_product: bool = True,
            chunk: int = 65536, use_gpu: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest centers of every row, searched in chunks to bound memory.

    Returns (indices (N, k), scores (N, k)): inner products, or squared L2 distances.
    """
    import faiss

    centers = np.ascontiguousarray(centers, dtype=np.float32)
    index = (faiss.IndexFlatIP if inner_product else faiss.IndexFlatL2)(centers.shape[1])
    if use_gpu:
        index = faiss.index_cpu_to_all_gpus(index)
    index.add(centers)
    k = min(k, len(centers))
    indices = np.empty((len(x), k), dtype=np.int64)
    scores = np.empty((len(x), k), dtype=np.float32)
    for start in range(0, len(x), chunk):
        block = np.ascontiguousarray(x[start:start + chunk], dtype=np.float32)
        scores[start:start + chunk], indices[start:start + chunk] = index.search(block, k)
    return indices, scores


@dataclass(frozen=True)
class ClustersRef:
    folder: Path
    key: str
    k: int
    cache_hit: bool

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """(centroids (k, d), assignment (N,))."""
        return np.load(self.folder / "centroids.npy"), np.load(self.folder / "assignment.npy")


def cluster_embeddings(embeddings: np.ndarray, embeddings_key: str, cfg: ClusterConfig,
                       seed: int, cache: ArtifactCache, refresh: bool = False) -> ClustersRef:
    """Fit k-means on the embeddings and assign every row; cached by content key."""
    k = max(1, min(cfg.k, len(embeddings)))
    params = cfg.model_dump(exclude={"gpu"}) | {"k": k}
    key = hash_json({"embeddings": embeddings_key, "params": params, "seed": seed})
    folder = cache.entry(STAGE, key)
    if cache.is_complete(STAGE, key) and not refresh:
        return ClustersRef(folder, key, k, cache_hit=True)
    centroids, assignment, objective, use_gpu = fit_and_assign(embeddings, cfg, seed)
    for name, array in (("centroids", centroids), ("assignment", assignment)):
        with atomic_path(folder / f"{name}.npy") as tmp, open(tmp, "wb") as f:
            np.save(f, array)
    cache.finish(STAGE, key, {"k": k, "params": params, "objective": objective,
                              "device": "gpu" if use_gpu else "cpu"})
    return ClustersRef(folder, key, k, cache_hit=False)


def fit_and_assign(x: np.ndarray, cfg: ClusterConfig, seed: int
                   ) -> tuple[np.ndarray, np.ndarray, float, bool]:
    """k-means with `cfg` (GPU when present and allowed), every row assigned to its nearest
    centroid: (centroids, assignment (N,), objective, used the GPU)."""
    k = max(1, min(cfg.k, len(x)))
    use_gpu = cfg.gpu == "auto" and gpu_available()
    log.debug("k-means: %d points, k=%d, %s", len(x), k, "GPU" if use_gpu else "CPU")
    centroids, objective = fit_centroids(
        x, k, niter=cfg.niter, nredo=cfg.nredo, seed=seed, spherical=cfg.spherical,
        max_points_per_centroid=cfg.max_points_per_centroid, use_gpu=use_gpu)
    assignment, _ = nearest(x, centroids, inner_product=cfg.spherical, use_gpu=use_gpu)
    return centroids, assignment[:, 0], objective, use_gpu


def kmeans_clusterer(cfg: ClusterConfig, cache: ArtifactCache | None = None,
                     embeddings_key: str | None = None):
    """A selection view's `cluster_fn`: k-means of a group's rows with `cfg`'s settings.

    With a cache, each (embeddings, group, k, seed) clustering is a cluster-stage entry; the
    whole pool ("all") at the configured k and the run seed is the cluster stage itself.
    `overrides` replaces settings such as niter and nredo for one selector's clustering.
    """

    def cluster(x: np.ndarray, group: str, k: int | None, seed: int,
                overrides: dict | None = None):
        group_cfg = cfg.model_copy(update={"k": k or cfg.k, **(overrides or {})})
        if cache is None:
            return fit_and_assign(x, group_cfg, seed)[:2]
        key = embeddings_key if group == "all" else f"{embeddings_key}:{group}"
        return cluster_embeddings(x, key, group_cfg, seed, cache).load()

    return cluster
