"""SemDeDup: drop semantic near-duplicates inside each k-means cluster, then sample.

Within a cluster, points are visited from the farthest from the centroid to the nearest
(NeMo Curator's default `which_to_keep="hard"`), and a point is kept only if its cosine
similarity to every point already kept is at most `threshold`. The budget is then drawn
from the kept points with kMQ's per-cluster quota. If fewer points survive than the
budget, dropped points refill it, least redundant first, and say so in `reason`.

References:
    Abbas et al. "SemDeDup: Data-efficient learning at web-scale through semantic
    deduplication." 2023.
"""

from __future__ import annotations

import hashlib

import numpy as np

from curate.exec.keys import smallest
from curate.params import Interval, constraints
from curate.selectors.base import Picks, SelectionView, Selector
from curate.selectors.kmq import allocate_quota, cluster_groups
from curate.selectors.registry import register


def dedup_cluster(x: np.ndarray, centroid: np.ndarray, threshold: float, block: int = 1024
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Greedy near-duplicate removal in one cluster.

    Points are visited from the farthest from the centroid to the nearest; a point is kept
    when its cosine to every point kept before it is at most `threshold`. Vectorised by
    blocks of `block` visits: one matmul of the block against the points kept so far (a
    point already too close to one of them is dropped, whatever the block holds), one
    block x block matmul for the rest, and a Python step only for the block's points that
    are too close to an earlier candidate of the same block. Same keep mask as visiting
    point by point (SemDeDup's official code instead drops a point close to any earlier
    point, kept or not).

    Returns (keep mask, each point's max cosine to the points kept before it; -1 for the
    first point).
    """
    order = np.argsort(x @ centroid, kind="stable")
    xs = x[order]
    n = len(xs)
    keep_sorted = np.zeros(n, dtype=bool)
    redundancy_sorted = np.full(n, -1.0)
    kept = np.empty_like(xs)
    n_kept = 0
    for start in range(0, n, block):
        b = xs[start:start + block]
        m = len(b)
        previous = np.full(m, -np.inf)
        for at in range(0, n_kept, 16 * block):  # bounded memory: block x 16 blocks
            previous = np.maximum(previous, (b @ kept[at:min(at + 16 * block, n_kept)].T
                                             ).max(axis=1))
        inner = b @ b.T
        earlier = np.tri(m, m, -1, dtype=bool)  # [i, j]: j visited before i
        keep_b = previous <= threshold
        conflict = (inner > threshold) & earlier & keep_b[None, :] & keep_b[:, None]
        for i in np.flatnonzero(conflict.any(axis=1)):  # in visiting order
            keep_b[i] = not (conflict[i] & keep_b).any()
        within = np.where(earlier & keep_b[None, :], inner, -np.inf).max(axis=1)
        best = np.maximum(previous, within)
        redundancy_sorted[start:start + m] = np.where(np.isfinite(best), best, -1.0)
        keep_sorted[start:start + m] = keep_b
        kept[n_kept:n_kept + keep_b.sum()] = b[keep_b]
        n_kept += int(keep_b.sum())
    keep = np.zeros(n, dtype=bool)
    redundancy = np.full(n, -1.0)
    keep[order], redundancy[order] = keep_sorted, redundancy_sorted
    return keep, redundancy


@register
class SemDeDupSelector(Selector):
    """Args:
        threshold: cosine similarity above which a point duplicates a kept one.
    """

    name = "semdedup"
    needs_clusters = True

    parameter_constraints = constraints(threshold=Interval(float, -1, 1))  # a cosine similarity

    def __init__(self, threshold: float = 0.95):
        self.threshold = threshold

    def deduplicate(self, view: SelectionView) -> tuple[np.ndarray, np.ndarray]:
        """(keep mask, redundancy) for the view; remembered for the last view seen, since
        it depends on neither seed nor budget (a benchmark asks for it many times)."""
        key = (hashlib.sha1(view.ids.tobytes() + view.clusters.tobytes()).hexdigest(),
               self.threshold)
        if getattr(self, "dedup_key_", None) != key:
            keep = np.zeros(len(view), dtype=bool)
            redundancy = np.zeros(len(view))
            for rows in cluster_groups(view.clusters)[0]:
                centroid = view.centroids[view.clusters[rows[0]]]
                keep[rows], redundancy[rows] = dedup_cluster(view.embeddings[rows], centroid,
                                                             self.threshold)
            self.dedup_key_, self.dedup_ = key, (keep, redundancy)
        return self.dedup_

    def pick(self, view: SelectionView, n: int, rng: np.random.Generator) -> Picks:
        keep, redundancy = self.deduplicate(view)
        groups, _ = cluster_groups(view.clusters)
        kept_groups = [g[keep[g]] for g in groups]
        sizes = np.array([len(g) for g in kept_groups])
        if n < len(groups):
            # below one row per cluster the quota follows each cluster's mass in the pool,
            # not what dedup left of it: dedup thins dense clusters most, and a quota by
            # kept rows would hand a few-shot budget to the outliers it leaves whole
            quota = np.minimum(allocate_quota(np.array([len(g) for g in groups]), n, rng), sizes)
        else:
            quota = allocate_quota(sizes, min(n, int(sizes.sum())), rng)
        keys = view.keys("semdedup")
        chosen = [g[smallest(keys[g], q)] for g, q in zip(kept_groups, quota, strict=True) if q]
        rows = np.concatenate(chosen) if chosen else np.empty(0, dtype=np.int64)
        reasons = [f"kept in cluster {view.clusters[r]} (max cos {redundancy[r]:.3f})"
                   for r in rows]
        if len(rows) < n:
            dropped = np.flatnonzero(~keep)
            refill = dropped[np.argsort(redundancy[dropped], kind="stable")[:n - len(rows)]]
            reasons += [f"refill: near-duplicate (max cos {redundancy[r]:.3f})" for r in refill]
            rows = np.concatenate([rows, refill])
        return Picks(rows=rows, scores=-redundancy[rows], reasons=reasons)
