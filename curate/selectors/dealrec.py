"""DEALRec: influence + effort scores, then coverage-enhanced sampling.

s = minmax(influence) + lambda * minmax(effort). The score places rows in bins; it is not
a top-k: the highest `prune` share is dropped (hard prune), [min, max] of the rest is cut
into `bins` equal-width bins, and from the smallest non-empty bin onwards each bin gives
min(|bin|, floor(m / bins left)) random rows, m being the budget still open (CCS).

If fewer rows survive the prune than the budget asks, pruned rows fill the rest, lowest
score first, and say so in `reason`, so exactly the budget comes back.

References:
    Lin et al. "Data-efficient Fine-tuning for LLM-based Recommendation." SIGIR 2024
    (github.com/Linxyhaha/DEALRec, code/prune/). Zheng et al. "Coverage-centric Coreset
    Selection for High Pruning Rates." ICLR 2023 (CCS).
"""

from __future__ import annotations

import numpy as np

from curate.exec.keys import smallest
from curate.params import Interval, constraints
from curate.selectors.base import Picks, SelectionView, Selector
from curate.selectors.registry import register


def minmax(values: np.ndarray) -> np.ndarray:
    span = values.max() - values.min()
    return np.zeros_like(values, dtype=np.float64) if span == 0 else (values - values.min()) / span


def coverage_sample(scores: np.ndarray, m: int, keys: np.ndarray, prune: float = 0.1,
                    n_bins: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """CCS sampling: (chosen row positions, the bin of each; -1 marks a pruned refill).
    A bin's random draw takes its rows with the smallest `keys` (one per row)."""
    order = np.argsort(scores, kind="stable")
    n_pruned = int(len(scores) * prune)
    kept = order[:len(scores) - n_pruned]
    values = scores[kept]
    edges = np.linspace(values.min(), values.max(), n_bins + 1)
    bin_of = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, n_bins - 1)
    bins = [kept[bin_of == b] for b in range(n_bins)]
    bins = [(b, rows) for b, rows in enumerate(bins) if len(rows)]
    chosen, chosen_bins, budget = [], [], min(m, len(kept))
    while bins and budget > 0:
        thinnest = min(range(len(bins)), key=lambda i: (len(bins[i][1]), bins[i][0]))
        b, rows = bins.pop(thinnest)
        take = min(len(rows), budget // (len(bins) + 1))
        chosen.append(rows[smallest(keys[rows], take)])
        chosen_bins.append(np.full(take, b))
        budget -= take
    rows, row_bins = np.concatenate(chosen), np.concatenate(chosen_bins)
    if len(rows) < m:  # the pool left after pruning is smaller than the budget
        refill = order[len(scores) - n_pruned:][:m - len(rows)]
        rows, row_bins = np.concatenate([rows, refill]), np.concatenate(
            [row_bins, np.full(len(refill), -1)])
    return rows, row_bins


@register
class DEALRecSelector(Selector):
    """Args:
        lam: weight of effort against influence (0.5 official; 0.3 to 1.0 in the paper).
        prune: share of the highest scores dropped before binning.
        bins: number of equal-width score bins.
    """

    name = "dealrec"
    needs_clusters = True  # unlabelled pools train the surrogate on cluster pseudo-labels

    parameter_constraints = constraints(
        lam=Interval(float, 0, None),
        prune=Interval(float, 0, 1, closed="left"),  # pruning every row leaves no bins
        bins=Interval(int, 1, None),
    )

    def __init__(self, lam: float = 0.5, prune: float = 0.1, bins: int = 50):
        self.lam = lam
        self.prune = prune
        self.bins = bins

    def pick(self, view: SelectionView, n: int, rng: np.random.Generator) -> Picks:
        score = minmax(view.score("influence")) + self.lam * minmax(view.score("effort"))
        rows, row_bins = coverage_sample(score, n, view.keys("dealrec"), self.prune, self.bins)
        reasons = [f"score bin {b} of {self.bins}" if b >= 0 else "refill: pruned top score"
                   for b in row_bins]
        return Picks(rows=rows, scores=score[rows], reasons=reasons)
