"""TypiClust: the most typical point of each of B k-means clusters (Hacohen et al., 2022).

k = min(B, `max_clusters`) clusters of the group; clusters of at most `min_cluster_size`
points are left out (their points are outliers, not modes). Picks go round the clusters
in order of (fewest picks so far, largest first), each taking the cluster's most typical
unpicked point:

    typicality(x) = 1 / (mean squared L2 distance to its K nearest neighbours + 1e-5),

K = min(20, size // 2), neighbours among the cluster's unpicked points. The official code
(github.com/avihu111/TypiClust, deep-al/pycls/al/typiclust.py) builds the neighbours with
faiss IndexFlatL2, hence squared distances; so does this (exact, in row blocks).
Differences, each to return exactly B rows on any pool: its k-means is unseeded (here it
is the view's seeded, cached clustering); once every large cluster is used up, the small
ones are used too (the official code would index past its cluster list).

References:
    Hacohen, Dekel, Weinshall. "Active Learning on a Budget: Opposite Strategies Suit
    High and Low Budgets." ICML 2022.
"""

from __future__ import annotations

import numpy as np

from curate.params import Interval, constraints
from curate.selectors.base import Picks, SelectionView, Selector
from curate.selectors.kmq import cluster_groups
from curate.selectors.registry import register


def typicality(x: np.ndarray, neighbours: int = 20, block_floats: int = 1 << 25) -> np.ndarray:
    """1 / (mean squared L2 distance to the K = min(neighbours, n // 2) nearest other rows
    + 1e-5); one row alone is maximally typical of itself.

    The neighbours come from blocks of rows against the cluster (numpy, at most
    `block_floats` distances at a time): a faiss
    search per pick costs more in thread start-up than in arithmetic on clusters of a few
    hundred rows, and a selection makes one per pick."""
    k = min(neighbours, len(x) // 2)
    if k == 0:
        return np.full(len(x), 1e5)
    x = np.asarray(x, dtype=np.float32)
    norms = (x * x).sum(axis=1)
    mean = np.empty(len(x))
    block = max(1, block_floats // len(x))
    for start in range(0, len(x), block):
        rows = slice(start, start + block)
        squared = np.maximum(norms[rows, None] + norms[None, :] - 2.0 * (x[rows] @ x.T), 0.0)
        squared[np.arange(squared.shape[0]), np.arange(start, start + squared.shape[0])] = np.inf
        mean[rows] = np.partition(squared, k - 1, axis=1)[:, :k].mean(axis=1)
    return 1.0 / (mean + 1e-5)


@register
class TypiClustSelector(Selector):
    """Args:
        max_clusters: cap on k (the official MAX_NUM_CLUSTERS).
        min_cluster_size: clusters of at most this many points are used only last.
        neighbours: K of the typicality (the official K_NN).
        niter: k-means iterations (the official code: scikit-learn's defaults).
        nredo: k-means restarts.
    """

    name = "typiclust"

    parameter_constraints = constraints(
        max_clusters=Interval(int, 1, None),
        min_cluster_size=Interval(int, 0, None),
        neighbours=Interval(int, 1, None),
        niter=Interval(int, 1, None),
        nredo=Interval(int, 1, None),
    )

    def __init__(self, max_clusters: int = 500, min_cluster_size: int = 5,
                 neighbours: int = 20, niter: int = 20, nredo: int = 1):
        self.max_clusters = max_clusters
        self.min_cluster_size = min_cluster_size
        self.neighbours = neighbours
        self.niter = niter
        self.nredo = nredo

    def pick(self, view: SelectionView, n: int, rng: np.random.Generator) -> Picks:
        _, assignment = view.clustering(min(n, self.max_clusters), niter=self.niter,
                                        nredo=self.nredo)
        groups, _ = cluster_groups(assignment)
        sizes = np.array([len(g) for g in groups])
        picked = np.zeros(len(groups), dtype=np.int64)
        unpicked = [g.copy() for g in groups]
        rows, scores, clusters, reasons = [], [], [], []
        for _ in range(n):
            open_ = np.array([len(u) > 0 for u in unpicked])
            large = open_ & (sizes > self.min_cluster_size)
            candidates = np.flatnonzero(large if large.any() else open_)
            # fewest picks first, then the largest cluster, then the lowest cluster id
            c = candidates[np.lexsort((candidates, -sizes[candidates],
                                       picked[candidates]))[0]]
            members = unpicked[c]
            typical = typicality(view.embeddings[members], self.neighbours)
            best = int(np.argmax(typical))
            rows.append(members[best])
            scores.append(typical[best])
            clusters.append(int(assignment[members[best]]))
            reasons.append(f"most typical of cluster {clusters[-1]} ({sizes[c]} rows, "
                           f"pick {picked[c] + 1})")
            unpicked[c] = np.delete(members, best)
            picked[c] += 1
        return Picks(rows=np.array(rows, dtype=np.int64), scores=np.array(scores),
                     reasons=reasons, clusters=np.array(clusters))
