"""Target vs pool vs selection on a 2-D projection (distribution-shift runs).

PCA fitted on the pool and the target together: a linear map, so what is near in the plot
is near along the directions of most variance, and the picture is reproducible (t-SNE or
UMAP would add a seed-dependent layout and a dependency for little gain here).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from curate.store import atomic_path


def projection_points(pool: np.ndarray | Rows, target: np.ndarray | None,
                      selected: np.ndarray, max_pool_points: int = 5000, seed: int = 0
                      ) -> dict[str, np.ndarray]:
    """2-D coordinates of a pool sample, the target and the selected pool rows (`shown`:
    which pool rows the sample holds). Without a target, PCA is fitted on the pool alone.

    `pool` is a matrix, or embeddings in the cache (an `EmbeddingsRef`), of which only the
    sample's and the selection's rows are read: a map never needs the whole pool."""
    from sklearn.decomposition import PCA

    rows, dim, read = _reader(pool)
    rng = np.random.default_rng(seed)
    shown = np.arange(rows) if rows <= max_pool_points else np.sort(
        rng.choice(rows, max_pool_points, replace=False))
    sample = read(shown)
    target = np.empty((0, dim), sample.dtype) if target is None else target
    fitted = np.vstack([sample, target])
    pca = PCA(n_components=min(2, *fitted.shape), random_state=seed).fit(fitted)

    def project(x: np.ndarray) -> np.ndarray:
        if not len(x):
            return np.empty((0, 2))
        xy = pca.transform(x)
        return np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))  # 1-d data: a line at y = 0

    return {"pool": project(sample), "target": project(target),
            "selection": project(read(np.asarray(selected, dtype=np.int64))), "shown": shown}


class Rows(Protocol):
    """Vectors read by row (`EmbeddingsRef`): how many, their width, and some of them."""

    rows: int
    dim: int

    def load_rows(self, rows: np.ndarray) -> np.ndarray: ...


def _reader(pool: np.ndarray | Rows) -> tuple[int, int, Callable[[np.ndarray], np.ndarray]]:
    if isinstance(pool, np.ndarray):
        return len(pool), pool.shape[1], pool.__getitem__
    return pool.rows, pool.dim, pool.load_rows


def write_projection(path: Path, pool: np.ndarray | Rows, target: np.ndarray,
                     selected: np.ndarray, seed: int = 0) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = projection_points(pool, target, selected, seed=seed)
    fig, ax = plt.subplots(figsize=(6, 5))
    styles = {"pool": {"s": 4, "color": "lightgrey"},
              "selection": {"s": 10, "color": "tab:red"},
              "target": {"s": 14, "color": "tab:blue", "marker": "x"}}
    for name, style in styles.items():
        xy = points[name]
        ax.scatter(xy[:, 0], xy[:, 1], label=f"{name} ({len(xy):,})", **style)
    ax.set(title="target vs pool vs selection (PCA of pool + target)", xlabel="PC 1",
           ylabel="PC 2")
    ax.legend(fontsize="small", markerscale=2)
    fig.tight_layout()
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return Path(path)
