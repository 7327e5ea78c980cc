"""GOT-D: the candidates whose dual potential g is most negative toward a target set.

See `curate.scoring.ot` for the solver. The potential lands in the view's scores as
`ot_potential` (and so in scores.parquet). With `keep_clusters`, only the k-means clusters
with the lowest OT cost to the target take part in the solve, as the official code's
pre-filter does; rows of the other clusters get potential +inf (chosen last, only when the
kept clusters hold fewer rows than the budget).
"""

from __future__ import annotations

import math

import numpy as np

from curate.errors import CurateError
from curate.params import Interval, constraints
from curate.scoring.ot import SinkhornSettings, candidate_potentials, cluster_costs
from curate.selectors.base import Picks, SelectionView, Selector
from curate.selectors.registry import register


@register
class OTSelector(Selector):
    """Args:
        eps: entropic regularisation (the official code uses 0.1).
        max_iter: Sinkhorn iterations at most.
        anchor_size: pools larger than this use the anchored approximation.
        keep_clusters: fraction of the k-means clusters kept by the pre-filter (lowest OT
            cost to the target first; more are kept if they hold fewer rows than the
            budget); None solves over the whole pool.
        cluster_sample: rows per cluster in the pre-filter's per-cluster OT costs.
    """

    name = "ot"
    stratifies = False  # the target set, not the pool's label mix, sets the budget's shape

    parameter_constraints = constraints(
        eps=Interval(float, 0, None, closed="neither"),
        max_iter=Interval(int, 1, None),
        anchor_size=Interval(int, 1, None),
        keep_clusters=[None, Interval(float, 0, 1, closed="right")],
        cluster_sample=Interval(int, 1, None),
    )

    def __init__(self, eps: float = 0.1, max_iter: int = 1000, anchor_size: int = 20000,
                 keep_clusters: float | None = None, cluster_sample: int = 256):
        self.eps = eps
        self.max_iter = max_iter
        self.anchor_size = anchor_size
        self.keep_clusters = keep_clusters
        self.cluster_sample = cluster_sample

    @property
    def needs_clusters(self) -> bool:
        return self.keep_clusters is not None

    def select(self, view, budget, seed):
        self.potentials(view, budget.total)  # on the whole pool, before a per-label split
        return super().select(view, budget, seed)

    def potentials(self, view: SelectionView, min_rows: int = 0) -> np.ndarray:
        if "ot_potential" not in view.scores and view.score_fn is None:
            if view.target is None:
                raise CurateError("selector ot needs a target set",
                                  "add a target: section to the config (a file or builtin)")
            settings = SinkhornSettings(eps=self.eps, max_iter=self.max_iter,
                                        anchor_size=self.anchor_size)
            rows = (np.arange(len(view)) if self.keep_clusters is None
                    else self.prefiltered_rows(view, settings, min_rows))
            g = np.full(len(view), np.inf)
            g[rows] = candidate_potentials(view.target, view.embeddings[rows], settings)
            view.scores["ot_potential"] = g
        return view.score("ot_potential")

    def prefiltered_rows(self, view: SelectionView, settings: SinkhornSettings,
                         min_rows: int) -> np.ndarray:
        """Rows of the clusters with the lowest OT cost to the target."""
        costs = cluster_costs(view.target, view.embeddings, view.clusters, settings,
                              self.cluster_sample)
        ranked = np.argsort(costs, kind="stable")[:int(np.isfinite(costs).sum())]
        sizes = np.bincount(view.clusters, minlength=len(costs))[ranked]
        wanted = math.ceil(self.keep_clusters * len(ranked))
        enough = int(np.searchsorted(np.cumsum(sizes), min_rows)) + 1
        kept = ranked[:max(wanted, enough)]
        return np.flatnonzero(np.isin(view.clusters, kept))

    def pick(self, view: SelectionView, n: int, rng: np.random.Generator) -> Picks:
        g = self.potentials(view, n)
        rows = np.argsort(g, kind="stable")[:n]
        reasons = [f"OT potential {v:.4f} (rank {i + 1})" if np.isfinite(v)
                   else "outside the pre-filtered clusters (budget exceeds them)"
                   for i, v in enumerate(g[rows])]
        return Picks(rows=rows, scores=g[rows], reasons=reasons)
