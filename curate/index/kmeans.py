"""k-means with faiss (GPU when present, torch Lloyd as the CUDA fallback) and chunked
nearest-centroid assignment."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curate.config import ClusterConfig
from curate.errors import CurateError
from curate.exec.keys import keyed_sample
from curate.index.torch_kmeans import fit_centroids_torch, nearest_torch
from curate.store import ArtifactCache, StageRef, atomic_path, cached_stage

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


@dataclass(frozen=True, kw_only=True)
class ClustersRef(StageRef):
    k: int

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """(centroids (k, d), assignment (N,))."""
        return np.load(self.path / "centroids.npy"), np.load(self.path / "assignment.npy")


def cache_params(cfg: ClusterConfig) -> dict:
    """The settings that decide a clustering. faiss on the GPU or the CPU shares a key (the
    same algorithm); torch's Lloyd is another algorithm, so it keys apart. `sample` names
    how the training rows are drawn (by row key since keyed randomness)."""
    torch = {"backend": "torch"} if resolve_backend(cfg.backend) == "torch" else {}
    return cfg.model_dump(exclude={"backend"}) | torch | {"sample": "keyed"}


def cluster_embeddings(load: Callable[[], np.ndarray], rows: int, embeddings_key: str,
                       cfg: ClusterConfig, seed: int, cache: ArtifactCache,
                       refresh: bool = False, hashes: np.ndarray | None = None) -> ClustersRef:
    """Fit k-means on the `rows` embeddings `load()` returns and assign every row; cached by
    content key, so a cache hit never loads the vectors. `hashes`: the rows' id hashes,
    which draw the training sample (`training_rows`)."""
    k = max(1, min(cfg.k, rows))
    params = cache_params(cfg) | {"k": k}

    def compute(folder: Path) -> dict:
        centroids, assignment, objective, backend = fit_and_assign(load(), cfg, seed, hashes)
        for name, array in (("centroids", centroids), ("assignment", assignment)):
            with atomic_path(folder / f"{name}.npy") as tmp, open(tmp, "wb") as f:
                np.save(f, array)
        return {"k": k, "params": params, "objective": objective, "backend": backend}

    entry = cached_stage(cache, STAGE, {"embeddings": embeddings_key, "params": params,
                                        "seed": seed}, compute, refresh)
    return ClustersRef(path=entry.folder, key=entry.key, cache_hit=entry.hit, k=k)


def resolve_backend(backend: str) -> str:
    """`auto`: faiss on the GPU when its GPU build loads, else torch when CUDA is visible
    (the faiss GPU wheels need cuBLAS 12), else faiss on the CPU."""
    if backend == "faiss-gpu" and not gpu_available():
        raise CurateError("cluster.backend is faiss-gpu but faiss sees no GPU",
                          "install a faiss GPU build that matches your CUDA, or set "
                          "cluster.backend to torch or auto")
    if backend != "auto":
        return backend
    if gpu_available():
        return "faiss-gpu"
    import torch

    return "torch" if torch.cuda.is_available() else "faiss"


def training_rows(k: int, cfg: ClusterConfig, seed: int, hashes: np.ndarray | None
                  ) -> np.ndarray | None:
    """The rows k-means trains on, in the order it sees them: the min(n, k x
    max_points_per_centroid) rows with the smallest keys under (seed, row id), in key
    order. So the fit depends on the set of rows, not their order (faiss seeds its
    centroids by position), and a sharded pool's sample is the union of each shard's
    smallest keys: a distributed fit trains on exactly these rows. None without hashes
    (the backend then samples by position itself)."""
    if hashes is None:
        return None
    return keyed_sample(seed, hashes, k * cfg.max_points_per_centroid, "kmeans-sample")


def fit_sample(train: np.ndarray, k: int, cfg: ClusterConfig, seed: int
               ) -> tuple[np.ndarray, float, str]:
    """k centroids fit on the rows `train` (already sampled: `training_rows`) with `cfg` on
    its backend: (centroids, objective, the backend that ran)."""
    backend = resolve_backend(cfg.backend)
    log.debug("k-means: %d points, k=%d, %s", len(train), k, backend)
    settings = {"niter": cfg.niter, "nredo": cfg.nredo, "seed": seed,
                "spherical": cfg.spherical,
                "max_points_per_centroid": cfg.max_points_per_centroid}
    if backend == "torch":
        return *fit_centroids_torch(train, k, **settings), backend
    return *fit_centroids(train, k, use_gpu=backend == "faiss-gpu", **settings), backend


def assign(x: np.ndarray, centroids: np.ndarray, cfg: ClusterConfig, backend: str
           ) -> np.ndarray:
    """(N,) the nearest centroid of every row (inner product when spherical)."""
    if backend == "torch":
        return nearest_torch(x, centroids, spherical=cfg.spherical)
    indices, _ = nearest(x, centroids, inner_product=cfg.spherical,
                         use_gpu=backend == "faiss-gpu")
    return indices[:, 0]


def fit_and_assign(x: np.ndarray, cfg: ClusterConfig, seed: int,
                   hashes: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray, float, str]:
    """k-means with `cfg` on its backend, every row assigned to its nearest centroid:
    (centroids, assignment (N,), objective, the backend that ran). With `hashes` (the
    rows' id hashes) a training sample is drawn by row key (`training_rows`)."""
    k = max(1, min(cfg.k, len(x)))
    sample = training_rows(k, cfg, seed, hashes)
    centroids, objective, backend = fit_sample(x if sample is None else x[sample], k, cfg, seed)
    return centroids, assign(x, centroids, cfg, backend), objective, backend


def kmeans_clusterer(cfg: ClusterConfig, cache: ArtifactCache | None = None,
                     embeddings_key: str | None = None):
    """A selection view's `cluster_fn`: k-means of a group's rows with `cfg`'s settings.

    With a cache, each (embeddings, group, k, seed) clustering is a cluster-stage entry; the
    whole pool ("all") at the configured k and the run seed is the cluster stage itself.
    `overrides` replaces settings such as niter and nredo for one selector's clustering.
    """

    def cluster(x: np.ndarray, group: str, k: int | None, seed: int,
                overrides: dict | None = None, hashes: np.ndarray | None = None):
        group_cfg = cfg.model_copy(update={"k": k or cfg.k, **(overrides or {})})
        if cache is None:
            return fit_and_assign(x, group_cfg, seed, hashes)[:2]
        key = embeddings_key if group == "all" else f"{embeddings_key}:{group}"
        return cluster_embeddings(lambda: x, len(x), key, group_cfg, seed, cache,
                                  hashes=hashes).load()

    return cluster
