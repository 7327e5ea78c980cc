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
from curate.exec.keys import row_gumbel, smallest
from curate.params import Interval, Text, constraints
from curate.selectors.base import PlannedPicks, Selector, plan_clustering
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
    cluster size (largest remainder, ties to a seeded random order). Far below K every
    integer part is 0, so this gives the n largest clusters one row each: density first.
    An unbiased rounding (systematic sampling of the fractional parts) was measured and
    not kept: it is random sampling in expectation there, and lost what density first
    gains on WordNet, gaining only at bbc-news 5 per label (benchmarks/selection.md,
    "What it says": cluster-balanced sampling).
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


def weighted_sample(quality: np.ndarray, k: int, gumbel: np.ndarray) -> np.ndarray:
    """k positions drawn without replacement with probability softmax(quality).

    Gumbel-top-k: the k largest quality + Gumbel(0, 1) keys (`gumbel`: the rows' keyed
    noise, `curate.exec.keys.row_gumbel`) are a draw without replacement
    with probabilities proportional to exp(quality) (successive softmax draws). Adding noise
    to the raw scores is the max-shifted form: nothing is exponentiated, so scores as
    large as 1e4 either way stay finite, and points whose softmax weight underflows can
    still fill a quota.
    """
    if k >= len(quality):
        return np.arange(len(quality))
    return smallest(-(quality + gumbel), k)


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
        k: clusters of kMQ's own k-means (None: cluster.k). Diversify and Conquer's regime
            has the budget well above k (several rows per cluster), which a cluster.k sized
            for few-shot budgets is not.
    """

    name = "kmq"
    needs_clusters = True

    parameter_constraints = constraints(
        quality=[None, Text()],
        temperature=Interval(float, 0, None, closed="neither"),
        k=[None, Interval(int, 1, None)],
    )

    def __init__(self, quality: str | None = None, temperature: float = 1.0,
                 k: int | None = None):
        self.quality = quality
        self.temperature = temperature
        self.k = k

    def _quality_column(self, pool) -> list[str]:
        """[the quality column's name], [] without one; a view computes it when first read
        (`curate.selectors.base.one_shard`)."""
        if self.quality is None:
            return []
        if self.quality not in pool.shards[0].columns:
            raise CurateError(f"kmq quality score '{self.quality}' is not available",
                              "use a numeric pool column, influence or effort "
                              f"(present: {', '.join(pool.shards[0].columns) or 'none'})")
        return [self.quality]

    def has_plan(self, pool=None) -> bool:
        """A plan needs the quality per row in the shards: none, or a pool column (computed
        scores such as influence train a surrogate on the whole pool: gathered)."""
        return self.quality is None or (pool is not None and bool(pool.shards)
                                        and self.quality in pool.shards[0].columns)

    def plan(self, pool, group, n, seed, rng) -> PlannedPicks:
        """The group's k-means (`plan_clustering`: the view's in memory; on shards, fit from
        the keyed sample and assigned where the rows are), then the quota draw here on the
        per-row columns (clusters, quality, keyed noise) in id order."""
        names = self._quality_column(pool)
        _, clusters = plan_clustering(pool, group, self.k, seed, assignment=True)
        ids, hashes, _, _, clusters, *quality = pool.columns(group.label, clusters, *names)
        quality = (checked_quality(quality[0], self.quality, self.temperature) if quality
                   else np.zeros(len(ids)))
        rows, reasons = quota_draw(clusters, quality, row_gumbel(seed, hashes, "kmq"), n, rng)
        return PlannedPicks(ids=ids[rows], scores=quality[rows], reasons=reasons,
                            clusters=clusters[rows])


def quota_draw(clusters: np.ndarray, quality: np.ndarray, gumbel: np.ndarray, n: int,
               rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """kMQ's draw: (rows, reasons): each cluster's quota (`allocate_quota`) drawn by
    softmax(quality) with the rows' keyed Gumbel noise (`weighted_sample`)."""
    groups, members = cluster_groups(clusters)
    quota = allocate_quota(np.array([len(g) for g in groups]), n, rng)
    rows = np.concatenate([g[weighted_sample(quality[g], q, gumbel[g])]
                           for g, q in zip(groups, quota, strict=True) if q > 0])
    return rows, [f"cluster {clusters[r]} quota {quota[members[r]]}" for r in rows]


def checked_quality(values: np.ndarray, name: str, temperature: float) -> np.ndarray:
    quality = np.asarray(values, dtype=np.float64)
    if not np.isfinite(quality).all():
        raise CurateError(f"kmq quality score '{name}' has "
                          f"{int((~np.isfinite(quality)).sum())} missing or infinite values",
                          "fill them before selection")
    return quality / temperature

