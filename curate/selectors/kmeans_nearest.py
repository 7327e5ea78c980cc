"""k-means-nearest: cluster the pool into B clusters and take the point nearest each centroid."""

from __future__ import annotations

import numpy as np

from curate.index import nearest
from curate.params import Interval, constraints
from curate.selectors.base import PlannedPicks, Selector, plan_clustering
from curate.selectors.registry import register


@register
class KMeansNearestSelector(Selector):
    """One representative per cluster of a B-means clustering (B = budget).

    When two centroids share a nearest point, the later one takes its nearest unused point;
    rows equally near a centroid (duplicates) go by id.
    The B-means clustering is the view's (cached per group, k and seed), with its own
    iteration settings: k = B is far larger than a diversity clustering's k at big budgets,
    and cluster.niter's default (300, Diversify and Conquer's) would make it slow.

    Args:
        niter: k-means iterations.
        nredo: k-means restarts (the best objective is kept).
    """

    name = "kmeans-nearest"

    parameter_constraints = constraints(niter=Interval(int, 1, None), nredo=Interval(int, 1, None))

    def __init__(self, niter: int = 20, nredo: int = 1):
        self.niter = niter
        self.nredo = nredo

    def plan(self, pool, group, n, seed, rng) -> PlannedPicks:
        """The group's B-means (`plan_clustering`); each shard sends the `depth` rows nearest
        each centroid still unresolved, and the merged lists resolve here."""
        centroids, _ = plan_clustering(pool, group, n, seed,
                                       {"niter": self.niter, "nredo": self.nredo})

        def search(pending: np.ndarray, depth: int):
            parts = [p for p in pool.map(_nearest_rows, group.label, centroids[pending], depth)
                     if p is not None]
            return (np.concatenate([p[0] for p in parts], axis=1),
                    np.concatenate([p[1] for p in parts], axis=1))

        ids, sims = resolve_nearest(len(centroids), group.size, search)
        clusters = np.arange(len(centroids))
        return PlannedPicks(ids=ids.astype(str), scores=sims, clusters=clusters,
                            reasons=[f"nearest to centroid {c} of {n} (cos {s:.3f})"
                                     for c, s in zip(clusters, sims, strict=True)])


def resolve_nearest(centroids: int, size: int, search) -> tuple[np.ndarray, np.ndarray]:
    """(the id chosen for each centroid, its similarity): each takes its nearest row not
    taken by an earlier centroid, looking `depth` rows deep (8, then 4x deeper for those
    left). `search(pending, depth)` -> (ids, similarities), (P, <= depth) each, for the
    pending centroids."""
    taken: set = set()
    chosen = np.empty(centroids, dtype=object)
    sims = np.zeros(centroids)
    pending, depth = np.arange(centroids), min(size, 8)
    while len(pending):
        ids, similarity = search(pending, depth)
        unresolved = []
        for i, centroid in enumerate(pending):
            order = by_similarity(similarity[i], ids[i])[:depth]
            free = [j for j in order if ids[i, j] not in taken]
            if not free:
                unresolved.append(centroid)
                continue
            chosen[centroid], sims[centroid] = ids[i, free[0]], similarity[i, free[0]]
            taken.add(chosen[centroid])
        pending, depth = np.array(unresolved, dtype=np.int64), min(size, depth * 4)
    return chosen, sims


def by_similarity(similarity: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Candidates most similar first; equal similarities (duplicate rows) by id, so the
    order does not depend on where the rows sit or which shard found them."""
    return np.lexsort((np.asarray(ids).astype(str), -np.asarray(similarity, np.float64)))


def _nearest_rows(shard, label, centroids, depth):
    """(ids, cosines) of this shard's `depth` group rows nearest each centroid, or None."""
    rows = shard.rows_of(label)
    if not len(rows):
        return None
    found, similarity = nearest(centroids, shard.load(rows), k=depth)
    return shard.ids[rows[found]].astype(str), similarity.astype(np.float64)
