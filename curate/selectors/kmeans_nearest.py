"""k-means-nearest: cluster the pool into B clusters and take the point nearest each centroid."""

from __future__ import annotations

import numpy as np

from curate.index import nearest
from curate.selectors.base import Picks, PlannedPicks, SelectionView, Selector
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

    def __init__(self, niter: int = 20, nredo: int = 1):
        self.niter = niter
        self.nredo = nredo

    def pick(self, view: SelectionView, n: int, rng: np.random.Generator) -> Picks:
        centroids, _ = view.clustering(n, niter=self.niter, nredo=self.nredo)
        taken = np.zeros(len(view), dtype=bool)
        rows = np.full(len(centroids), -1)
        sims = np.zeros(len(centroids))
        pending, depth = np.arange(len(centroids)), min(len(view), 8)
        while len(pending):
            candidates, similarity = nearest(centroids[pending], view.embeddings, k=depth)
            unresolved = []
            for centroid, cand, sim in zip(pending, candidates, similarity, strict=True):
                order = by_similarity(sim, view.ids[cand])
                cand, sim = cand[order], sim[order]
                free = np.flatnonzero(~taken[cand])
                if len(free) == 0:
                    unresolved.append(centroid)
                    continue
                rows[centroid], sims[centroid] = cand[free[0]], sim[free[0]]
                taken[cand[free[0]]] = True
            pending, depth = np.array(unresolved, dtype=np.int64), min(len(view), depth * 4)
        clusters = np.arange(len(centroids))
        reasons = [f"nearest to centroid {c} of {n} (cos {s:.3f})" for c, s in zip(clusters, sims,
                                                                                   strict=True)]
        return Picks(rows=rows, scores=sims, reasons=reasons, clusters=clusters)

    def plan(self, pool, group, n, seed, rng) -> PlannedPicks:
        """The group's B-means from its keyed sample; each shard sends the `depth` rows
        nearest each centroid still unresolved, the merged lists resolve as `pick` does."""
        centroids, _, _ = pool.fit(group, n, seed, {"niter": self.niter, "nredo": self.nredo})
        taken: set[str] = set()
        ids = np.empty(len(centroids), dtype=object)
        sims = np.zeros(len(centroids))
        pending, depth = np.arange(len(centroids)), min(group.size, 8)
        while len(pending):
            parts = [p for p in pool.map(_nearest_rows, group.label, centroids[pending], depth)
                     if p is not None]
            cand_ids = np.concatenate([p[0] for p in parts], axis=1)
            cand_sims = np.concatenate([p[1] for p in parts], axis=1)
            unresolved = []
            for i, centroid in enumerate(pending):
                order = by_similarity(cand_sims[i], cand_ids[i])[:depth]
                free = [j for j in order if cand_ids[i, j] not in taken]
                if not free:
                    unresolved.append(centroid)
                    continue
                ids[centroid], sims[centroid] = cand_ids[i, free[0]], cand_sims[i, free[0]]
                taken.add(ids[centroid])
            pending, depth = np.array(unresolved, dtype=np.int64), min(group.size, depth * 4)
        clusters = np.arange(len(centroids))
        return PlannedPicks(ids=ids.astype(str), scores=sims, clusters=clusters,
                            reasons=[f"nearest to centroid {c} of {n} (cos {s:.3f})"
                                     for c, s in zip(clusters, sims, strict=True)])


def by_similarity(similarity: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Candidates most similar first; equal similarities (duplicate rows) by id, so the
    order does not depend on where the rows sit or which shard found them."""
    return np.lexsort((np.asarray(ids).astype(str), -np.asarray(similarity, np.float64)))


def _nearest_rows(shard, label, centroids, depth):
    """(ids, cosines) of this shard's `depth` group rows nearest each centroid, or None."""
    rows = shard.rows_of(label)
    if not len(rows):
        return None
    found, similarity = nearest(centroids, shard.load()[rows], k=depth)
    return shard.ids[rows[found]].astype(str), similarity.astype(np.float64)
