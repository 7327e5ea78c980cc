"""GOT-D: the candidates whose dual potential g is most negative toward a target set.

See `curate.scoring.ot` for the solver. The potential lands in the view's scores as
`ot_potential` (and so in scores.parquet).
"""

from __future__ import annotations

import numpy as np

from curate.errors import CurateError
from curate.scoring.ot import SinkhornSettings, candidate_potentials
from curate.selectors.base import Picks, SelectionView, Selector
from curate.selectors.registry import register


@register
class OTSelector(Selector):
    """Args:
        eps: entropic regularisation (the official code uses 0.1).
        max_iter: Sinkhorn iterations at most.
        anchor_size: pools larger than this use the anchored approximation.
    """

    name = "ot"

    def __init__(self, eps: float = 0.1, max_iter: int = 1000, anchor_size: int = 20000):
        self.eps = eps
        self.max_iter = max_iter
        self.anchor_size = anchor_size

    def select(self, view, budget, seed):
        self.potentials(view)  # on the whole pool, before a per-label budget splits it
        return super().select(view, budget, seed)

    def potentials(self, view: SelectionView) -> np.ndarray:
        if "ot_potential" not in view.scores and view.score_fn is None:
            if view.target is None:
                raise CurateError("selector ot needs a target set",
                                  "add a target: section to the config (a file or builtin)")
            settings = SinkhornSettings(eps=self.eps, max_iter=self.max_iter,
                                        anchor_size=self.anchor_size)
            view.scores["ot_potential"] = candidate_potentials(view.target, view.embeddings,
                                                               settings)
        return view.score("ot_potential")

    def pick(self, view: SelectionView, n: int, rng: np.random.Generator) -> Picks:
        g = self.potentials(view)
        rows = np.argsort(g, kind="stable")[:n]
        reasons = [f"OT potential {v:.4f} (rank {i + 1})" for i, v in enumerate(g[rows])]
        return Picks(rows=rows, scores=g[rows], reasons=reasons)
