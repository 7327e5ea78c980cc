"""k-means-nearest: cluster the pool into B clusters and take the point nearest each centroid."""

from __future__ import annotations

import numpy as np

from curate.index import nearest
from curate.selectors.base import Picks, SelectionView, Selector
from curate.selectors.registry import register


@register
class KMeansNearestSelector(Selector):
    """One representative per cluster of a B-means clustering (B = budget).

    When two centroids share a nearest point, the later one takes its nearest unused point.
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
