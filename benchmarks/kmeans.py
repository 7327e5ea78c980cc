"""k-means: faiss (curate.index) vs scikit-learn KMeans on the same vectors and settings, and
curate's torch backend (CUDA when present) against the same faiss run."""

from __future__ import annotations

import numpy as np

from benchmarks.common import measured, mixture
from curate.index import fit_centroids, nearest
from curate.index.torch_kmeans import fit_centroids_torch, torch_device


def inertia(x: np.ndarray, centroids: np.ndarray) -> float:
    """Sum of squared L2 distances to the nearest centroid, computed one way for both."""
    _, distances = nearest(x, centroids, inner_product=False)
    return float(distances[:, 0].astype(np.float64).sum())


def _faiss(x: np.ndarray, k: int, iterations: int) -> tuple[np.ndarray, dict]:
    with measured({}) as timing:
        centroids, _ = fit_centroids(x, k, niter=iterations, nredo=1, seed=0, spherical=False,
                                     max_points_per_centroid=len(x))  # train on every point
        nearest(x, centroids, inner_product=False)
    print(f"  faiss, {iterations} iterations: {timing['seconds']:.1f} s (other processes busy: "
          f"{timing['other_busy_cores']} cores)", flush=True)
    return centroids, timing


def run(n: int = 200_000, d: int = 384, k: int = 512, iterations: int = 20) -> dict:
    """scikit-learn stops early once no label changes (even at tol=0), so faiss is also timed
    at the iteration count scikit-learn actually ran: the like-for-like ratio."""
    from sklearn.cluster import KMeans

    x = mixture(n, d, components=1000)
    centroids, faiss_t = _faiss(x, k, iterations)
    with measured({}) as sklearn_t:
        model = KMeans(n_clusters=k, n_init=1, max_iter=iterations, init="random", tol=0.0,
                       algorithm="lloyd", random_state=0).fit(x)
    sklearn_s = sklearn_t["seconds"]
    print(f"  scikit-learn: {sklearn_s:.1f} s, {model.n_iter_} iterations (other processes "
          f"busy: {sklearn_t['other_busy_cores']} cores)", flush=True)
    same_t = faiss_t if model.n_iter_ == iterations else _faiss(x, k, int(model.n_iter_))[1]
    faiss_inertia, sklearn_inertia = inertia(x, centroids), inertia(x, model.cluster_centers_)
    with measured({}) as torch_t:
        torch_centroids, _ = fit_centroids_torch(x, k, niter=iterations, nredo=1, seed=0,
                                                 spherical=False, max_points_per_centroid=len(x))
        nearest(x, torch_centroids, inner_product=False)
    torch_inertia = inertia(x, torch_centroids)
    print(f"  torch ({torch_device()}), {iterations} iterations: {torch_t['seconds']:.1f} s",
          flush=True)
    return {"n": n, "d": d, "k": k, "iterations": iterations, "init": "random, 1 run",
            "faiss_s": faiss_t["seconds"], "sklearn_s": round(sklearn_s, 2),
            "faiss_other_busy_cores": faiss_t["other_busy_cores"],
            "sklearn_other_busy_cores": sklearn_t["other_busy_cores"],
            "sklearn_iterations_run": int(model.n_iter_),
            "faiss_s_at_sklearn_iterations": same_t["seconds"],
            "speedup_faiss_vs_sklearn": round(sklearn_s / same_t["seconds"], 2),
            "faiss_inertia": faiss_inertia, "sklearn_inertia": sklearn_inertia,
            "inertia_ratio_faiss_over_sklearn": round(faiss_inertia / sklearn_inertia, 4),
            "torch_device": str(torch_device()), "torch_s": torch_t["seconds"],
            "torch_other_busy_cores": torch_t["other_busy_cores"],
            "torch_over_faiss_time": round(torch_t["seconds"] / faiss_t["seconds"], 2),
            "torch_inertia": torch_inertia,
            "inertia_ratio_torch_over_faiss": round(torch_inertia / faiss_inertia, 4)}
