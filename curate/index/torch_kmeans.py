"""Lloyd k-means in torch: the `cluster.backend: torch` path, on CUDA when present.

faiss is the default; this backend exists for GPU machines where faiss's GPU build cannot
load (the PyPI faiss GPU wheels are CUDA 12 builds that need cuBLAS 12) while torch's CUDA
does. It follows faiss's Clustering so results are comparable: train on a seeded sample of
at most k * max_points_per_centroid rows, start from k distinct sample rows, keep the best
of nredo runs, split a big cluster when one empties, renormalise for spherical k-means.
Assignment is a chunked matmul so memory stays at chunk x k whatever N is.
"""

from __future__ import annotations

import numpy as np

# faiss's split_clusters perturbation: the two halves move apart by this relative amount
SPLIT_EPS = 1.0 / 1024


def torch_device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def assign(x, centroids, *, spherical: bool, chunk: int = 65536):
    """(nearest centroid index, score) for every row of the torch tensor x: inner product
    for spherical k-means, squared L2 distance otherwise."""
    import torch

    indices, scores = [], []
    centroid_norms = (centroids * centroids).sum(1)
    for start in range(0, len(x), chunk):
        block = x[start:start + chunk]
        products = block @ centroids.T
        if spherical:
            best, index = products.max(1)
        else:
            distances = (block * block).sum(1, keepdim=True) - 2 * products + centroid_norms
            best, index = distances.clamp_min_(0).min(1)
        indices.append(index)
        scores.append(best)
    return torch.cat(indices), torch.cat(scores)


def _split_empty(centroids, counts, generator) -> None:
    """Give each empty cluster half of a populous one (chosen with probability growing
    with its size), as faiss does, so k clusters survive."""
    import torch

    signs = torch.ones(centroids.shape[1], device=centroids.device)
    signs[1::2] = -1
    for empty in torch.nonzero(counts == 0).flatten().tolist():
        weights = (counts - 1).clamp_min(0).double()
        if weights.sum() == 0:
            return  # fewer distinct points than clusters: nothing to split
        donor = int(torch.multinomial(weights.cpu(), 1, generator=generator))
        centroids[empty] = centroids[donor] * (1 + SPLIT_EPS * signs)
        centroids[donor] = centroids[donor] * (1 - SPLIT_EPS * signs)
        counts[empty] = counts[donor] // 2
        counts[donor] -= counts[empty]


def _lloyd(sample, k: int, niter: int, spherical: bool, generator):
    import torch

    start = torch.randperm(len(sample), generator=generator)[:k].to(sample.device)
    centroids = sample[start].clone()
    for _ in range(niter):
        index, _ = assign(sample, centroids, spherical=spherical)
        sums = torch.zeros_like(centroids).index_add_(0, index, sample)
        counts = torch.bincount(index, minlength=k)
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None].to(sample.dtype)
        _split_empty(centroids, counts, generator)
        if spherical:
            centroids = torch.nn.functional.normalize(centroids, dim=1)
    _, scores = assign(sample, centroids, spherical=spherical)
    return centroids, float(scores.sum())


def fit_centroids_torch(x: np.ndarray, k: int, *, niter: int = 300, nredo: int = 5,
                        seed: int = 0, spherical: bool = True,
                        max_points_per_centroid: int = 256) -> tuple[np.ndarray, float]:
    """Fit k centroids like `curate.index.kmeans.fit_centroids`: (centroids, objective)."""
    import torch

    k = max(1, min(k, len(x)))
    generator = torch.Generator().manual_seed(seed)
    rows = len(x)
    if rows > k * max_points_per_centroid:
        rows = k * max_points_per_centroid
        chosen = np.sort(np.random.default_rng(seed).choice(len(x), rows, replace=False))
        x = x[chosen]
    sample = torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32), device=torch_device())
    best = None
    for _ in range(nredo):
        centroids, objective = _lloyd(sample, k, niter, spherical, generator)
        better = best is None or (objective > best[1] if spherical else objective < best[1])
        if better:
            best = (centroids, objective)
    return best[0].cpu().numpy(), best[1]


def nearest_torch(x: np.ndarray, centroids: np.ndarray, *, spherical: bool,
                  chunk: int = 65536) -> np.ndarray:
    """The nearest centroid of every row of x (N,), moved to the device chunk by chunk."""
    import torch

    device = torch_device()
    centres = torch.as_tensor(centroids, dtype=torch.float32, device=device)
    out = np.empty(len(x), dtype=np.int64)
    for start in range(0, len(x), chunk):
        block = torch.as_tensor(np.ascontiguousarray(x[start:start + chunk], dtype=np.float32),
                                device=device)
        out[start:start + chunk] = assign(block, centres, spherical=spherical)[0].cpu().numpy()
    return out
