"""UHerding: kernel coverage weighted by the probe's uncertainty (Bae, Oliveira, Sutherland,
ICLR 2025).

MaxHerding's greedy (`curate.index.coverage`) with a weight per covered row:

    w(x) = (1 - blend) + blend * uncertainty(x)

`uncertainty` is the cross-fitted probe's margin uncertainty (`curate.scoring.difficulty`).
At blend 0 this is maxherding; at 1 coverage counts only where the probe is unsure, so
picks move to the boundaries between labels. The paper moves from coverage to uncertainty
as the labelled set grows (through the temperature it calibrates on it); here every row is
labelled from the start, so the move follows the budget: blend None is the group's budget
share over `full_share`, capped at 1 (coverage at a few rows per label, boundaries at
half the pool).

References:
    Bae, Oliveira, Sutherland. "Uncertainty Herding: One Active Learning Method for All
    Label Budgets." ICLR 2025 (scikit-activeml `skactiveml/pool/_uherding.py`).
"""

from __future__ import annotations

import numpy as np

from curate.params import Interval, constraints
from curate.selectors.base import Picks, SelectionView, Selector
from curate.selectors.maxherding import KERNEL_CONSTRAINTS, cover_picks
from curate.selectors.registry import register


@register
class UHerdingSelector(Selector):
    """Args:
        blend: weight of the uncertainty against plain coverage; None: the budget share
            of the group over `full_share`, at most 1.
        full_share: the budget share at which blend None reaches 1.
        neighbours, sigma, bandwidth_rank: as maxherding's.
    """

    name = "uherding"

    parameter_constraints = constraints(
        blend=[None, Interval(float, 0, 1)],
        full_share=Interval(float, 0, 1, closed="right"),
        **KERNEL_CONSTRAINTS,
    )

    def __init__(self, blend: float | None = None, full_share: float = 0.5,
                 neighbours: int = 100, sigma: float | None = None, bandwidth_rank: int = 10):
        self.blend = blend
        self.full_share = full_share
        self.neighbours = neighbours
        self.sigma = sigma
        self.bandwidth_rank = bandwidth_rank

    def pick(self, view: SelectionView, n: int, rng: np.random.Generator) -> Picks:
        blend = self.blend if self.blend is not None else min(
            1.0, n / len(view) / self.full_share)
        weights = (1.0 - blend) + blend * view.score("uncertainty")
        return cover_picks(view, n, self.neighbours, self.sigma, self.bandwidth_rank, weights,
                           f"uncertainty-weighted (blend {blend:.2f}) ")
