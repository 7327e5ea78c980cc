"""Uniform random selection: the baseline every method is compared with."""

import numpy as np

from curate.selectors.base import Picks, SelectionView, Selector
from curate.selectors.registry import register


@register
class RandomSelector(Selector):
    """Draw the budget uniformly without replacement."""

    name = "random"

    def __init__(self):
        pass

    def pick(self, view: SelectionView, n: int, rng: np.random.Generator) -> Picks:
        rows = rng.choice(len(view), size=n, replace=False)
        return Picks(rows=rows, scores=np.zeros(n), reasons=["uniform random"] * n)
