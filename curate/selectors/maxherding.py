"""MaxHerding: greedy kernel coverage of the group's rows (Bae, Noh, Sutherland, 2024).

Each pick is the row that most raises sum_x max_{s in S} k(x, s), a Gaussian kernel on the
unit vectors: ProbCover's hard delta-ball made smooth, so no radius has to be right. The
greedy, the k-nearest-neighbour graph it runs on and the bandwidth rule are
`curate.index.coverage`; with no labelled rows yet, this is the official greedy (scikit-activeml
`skactiveml/pool/_max_herding.py`, which holds the N x N kernel) restricted to each row's
`neighbours` nearest rows.

References:
    Bae, Noh, Sutherland. "Generalized Coverage for More Robust Low-Budget Active
    Learning." ECCV 2024.
"""

from __future__ import annotations

import numpy as np

from curate.index.coverage import kernel_cover
from curate.params import Interval, constraints
from curate.selectors.base import Picks, SelectionView, Selector
from curate.selectors.registry import register

# the kernel's parameters, shared with uherding (which weights the same coverage)
KERNEL_CONSTRAINTS = {
    "neighbours": Interval(int, 1, None),
    "sigma": [None, Interval(float, 0, None, closed="neither")],
    "bandwidth_rank": Interval(int, 1, None),
}


def cover_picks(view: SelectionView, n: int, neighbours: int, sigma: float | None,
                bandwidth_rank: int, weights: np.ndarray | None = None,
                weighted_by: str = "") -> Picks:
    """Picks of kernel coverage with their reasons (shared with uherding)."""
    cover = kernel_cover(view.embeddings, n, neighbours, sigma, bandwidth_rank, weights)
    reasons = [f"raises {weighted_by}kernel coverage by {gain:.2%} of the group "
               f"(sigma {cover.sigma:.3f}, pick {i + 1})"
               for i, gain in enumerate(cover.gains)]
    return Picks(rows=cover.rows, scores=cover.gains, reasons=reasons)


@register
class MaxHerdingSelector(Selector):
    """Args:
        neighbours: each row's kernel is kept to its this many nearest rows (all rows when
            the group is no larger): memory and time grow with it, not with N^2.
        sigma: the Gaussian kernel's bandwidth (L2 between unit vectors); None: the median
            distance of the rows to their `bandwidth_rank`-th nearest row.
        bandwidth_rank: which neighbour's distance sets sigma.
    """

    name = "maxherding"

    parameter_constraints = constraints(**KERNEL_CONSTRAINTS)

    def __init__(self, neighbours: int = 100, sigma: float | None = None,
                 bandwidth_rank: int = 10):
        self.neighbours = neighbours
        self.sigma = sigma
        self.bandwidth_rank = bandwidth_rank

    def pick(self, view: SelectionView, n: int, rng: np.random.Generator) -> Picks:
        return cover_picks(view, n, self.neighbours, self.sigma, self.bandwidth_rank)
