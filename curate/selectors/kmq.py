"""kMQ: k-means-quality sampling (Diversify and Conquer, Yu et al. 2024).

Each of the K clusters gets floor(B/K) points, drawn without replacement with
probability softmax(quality) inside the cluster. Two fixes to the official code
(github.com/for-ai/iterative-data-selection): the softmax is max-shifted (the official
exp() overflows for large scores), and quota that small clusters cannot fill is handed
to clusters that still have points, so exactly min(B, N) rows come back (the official
code returns fewer).

References:
    Yu, Dai, et al. "Diversify and Conquer: Diversity-Centric Data Selection with
    Iterative Refinement." 2024.
"""

from __future__ import annotations

import numpy as np

from curate.errors import CurateError
from curate.selectors.base import Picks, SelectionView, Selector
from curate.selectors.registry import register


def allocate_quota(sizes: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Points per cluster.

    n >= K (Diversify and Conquer's regime): floor(n/K) each, capped by size, leftover
    spread evenly over clusters with points remaining; when fewer leftover points than such
    clusters remain, a seeded random subset of them gets one more each.

    n < K: floor(n/K) is 0 and an equal share cannot be given; handing one point each to n
    random clusters would weigh a 2-point outlier cluster like a dense mode of thousands,
    so a few-shot budget (10 per label over a label's hundreds of clusters) would be spent
    on atypical rows. The quota follows cluster mass instead: n split in proportion to
    cluster size (largest remainder, ties to a seeded random order).
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    if n < len(sizes):
        exact = n * sizes / sizes.sum()
        quota = np.floor(exact).astype(np.int64)
        order = np.lexsort((rng.permutation(len(sizes)), -(exact - quota)))
        quota[order[:n - quota.sum()]] += 1
        return quota
    quota = np.minimum(sizes, n // len(sizes))
    while (leftover := n - quota.sum()) > 0:
        open_clusters = np.flatnonzero(quota < sizes)
        if leftover >= len(open_clusters):
            quota[open_clusters] = np.minimum(sizes[open_clusters],
                                              quota[open_clusters] + leftover // len(open_clusters))
        else:
            lucky = rng.choice(open_clusters, size=leftover, replace=False)
            quota[lucky] += 1
    return quota


def weighted_sample(quality: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k positions drawn without replacement with probability softmax(quality).

    Gumbel-top-k: the k largest quality + Gumbel(0, 1) keys are a draw without replacement
    with probabilities proportional to exp(quality) (successive softmax draws). Adding noise
    to the raw scores is the max-shifted form: nothing is exponentiated, so scores of
    +-1e4 stay finite, and points whose softmax weight underflows can still fill a quota.
    """
    if k >= len(quality):
        return np.arange(len(quality))
    keys = quality + rng.gumbel(size=len(quality))
    return np.argsort(-keys, kind="stable")[:k]


def cluster_groups(clusters: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Row positions of each distinct cluster (ascending id), and each row's group index."""
    _, members, counts = np.unique(clusters, return_inverse=True, return_counts=True)
    order = np.argsort(members, kind="stable")
    return np.split(order, np.cumsum(counts)[:-1]), members


@register
class KMQSelector(Selector):
    """Per-cluster quota, quality-weighted draws inside each cluster.

    Args:
        quality: a score used as quality: a numeric pool column, or a computed score such as
            `influence` or `effort`; None gives uniform draws.
        temperature: quality is divided by this before the softmax.
    """

    name = "kmq"
    needs_clusters = True

    def __init__(self, quality: str | None = None, temperature: float = 1.0):
        self.quality = quality
        self.temperature = temperature

    def pick(self, view: SelectionView, n: int, rng: np.random.Generator) -> Picks:
        quality = self._quality(view)
        groups, members = cluster_groups(view.clusters)
        quota = allocate_quota(np.array([len(g) for g in groups]), n, rng)
        rows = [g[weighted_sample(quality[g], q, rng)] for g, q in zip(groups, quota, strict=True)
                if q > 0]
        rows = np.concatenate(rows)
        reasons = [f"cluster {view.clusters[r]} quota {quota[members[r]]}" for r in rows]
        return Picks(rows=rows, scores=quality[rows], reasons=reasons)

    def _quality(self, view: SelectionView) -> np.ndarray:
        if self.quality is None:
            return np.zeros(len(view))
        try:
            quality = np.asarray(view.score(self.quality), dtype=np.float64)
        except KeyError:
            raise CurateError(f"kmq quality score '{self.quality}' is not available",
                              "use a numeric pool column, influence or effort "
                              f"(present: {', '.join(view.scores) or 'none'})") from None
        if not np.isfinite(quality).all():
            raise CurateError(f"kmq quality score '{self.quality}' has "
                              f"{int((~np.isfinite(quality)).sum())} missing or infinite values",
                              "fill them before selection")
        return quality / self.temperature
