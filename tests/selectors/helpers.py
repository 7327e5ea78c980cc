import numpy as np

from curate.index import fit_centroids, nearest
from curate.selectors import SelectionView


def view_of(x: np.ndarray, k: int = 6, labels=None, scores=None, seed: int = 0) -> SelectionView:
    """A view clustered by faiss k-means: `k` centroids unless a selector asks for its own k."""

    def clusters(rows, group, k_asked, cluster_seed, overrides=None, hashes=None):
        centroids, _ = fit_centroids(rows, k_asked or k, niter=20, nredo=2, seed=cluster_seed)
        return centroids, nearest(rows, centroids)[0][:, 0]

    return SelectionView(ids=np.array([f"row-{i:04d}" for i in range(len(x))]), embeddings=x,
                         labels=labels, scores=scores or {}, cluster_fn=clusters,
                         target=x[::3])  # for selectors that move toward a target set


def fixed_clusters(x: np.ndarray, assignment: np.ndarray, scores=None) -> SelectionView:
    """A view with a given assignment; centroids are the normalised cluster means."""
    ids = np.unique(assignment)
    centroids = np.zeros((ids.max() + 1, x.shape[1]), dtype=np.float32)
    for c in ids:
        mean = x[assignment == c].mean(0)
        centroids[c] = mean / max(np.linalg.norm(mean), 1e-12)
    return SelectionView(ids=np.array([f"row-{i:04d}" for i in range(len(x))]), embeddings=x,
                         scores=scores or {}, cluster_fn=lambda *_, **__: (centroids, assignment))
