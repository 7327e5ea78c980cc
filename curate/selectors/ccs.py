"""CCS: coverage-centric coreset selection on difficulty (Zheng et al., ICLR 2023).

Rows are ranked by `difficulty` (the cross-fitted probe's margin, `curate.scoring.difficulty`);
the hardest `prune` share is dropped (mislabelled and ambiguous rows gather there), the
difficulty range of the rest is cut into `bins` equal-width strata, and the budget is
spread over them from the thinnest stratum up: each takes min(its size, budget left /
strata left) rows at random. Easy, middling and hard rows all keep a share, where a top-k
of hard or easy rows would leave whole regions of difficulty out. The sampler is
DEALRec's (`curate.selectors.dealrec.coverage_sample`), which took it from CCS.

The paper chooses the hard cut per pruning rate (0 at low rates, up to 40% at 90% pruned);
`prune` defaults to 10%, DEALRec's value, for every budget.

References:
    Zheng, Liu, Li, Zhang, Prakash. "Coverage-centric Coreset Selection for High Pruning
    Rates." ICLR 2023.
"""

from __future__ import annotations

import numpy as np

from curate.params import Interval, constraints
from curate.selectors.base import Picks, SelectionView, Selector
from curate.selectors.dealrec import coverage_sample
from curate.selectors.registry import register


@register
class CCSSelector(Selector):
    """Args:
        prune: share of the hardest rows dropped before stratifying.
        bins: number of equal-width difficulty strata.
    """

    name = "ccs"

    parameter_constraints = constraints(
        prune=Interval(float, 0, 1, closed="left"),
        bins=Interval(int, 1, None),
    )

    def __init__(self, prune: float = 0.1, bins: int = 50):
        self.prune = prune
        self.bins = bins

    def pick(self, view: SelectionView, n: int, rng: np.random.Generator) -> Picks:
        difficulty = view.score("difficulty")
        rows, strata = coverage_sample(difficulty, n, view.keys("ccs"), self.prune, self.bins)
        reasons = [f"difficulty stratum {b + 1} of {self.bins} (random within it)" if b >= 0
                   else f"refill: among the hardest {self.prune:.0%}" for b in strata]
        return Picks(rows=rows, scores=difficulty[rows], reasons=reasons)
