"""DEITA's score-first diversity filter (Liu et al. 2024, "What Makes Good Data for Alignment?").

Rows go in descending order of a quality score; a row is kept when its cosine similarity to
every row kept before it is at most `threshold` (the official filter drops a row when any
similarity exceeds it; 0.9 is the paper's setting), until the budget is met. When the
filter runs out of rows first, the best-scored rows it dropped fill the budget, and their
reason says so.

The quality score: DEITA multiplies the complexity and quality scores of two LLM scorers it
trained, which curate does not ship. The default is `ifd` (Cherry LLM's
instruction-following difficulty, `curate.scoring.lm_scores`), which the select stage
computes for any prompt/response pool from `scoring.lm_model`; any numeric pool column or
computed score can be named instead. With `ifd`, rows above 1 (the prompt makes the
response less likely: Cherry LLM drops them as misaligned) rank after every other row.
Equal scores go by keyed order (seed, row id). The filter is exact greedy, as the
official code with its default batch size of one; it compares a block of candidates with
the kept rows at once and walks the block in order.

References:
    Liu, Zeng, He, Jiang, He. "What Makes Good Data for Alignment? A Comprehensive Study
    of Automatic Data Selection in Instruction Tuning." ICLR 2024
    (github.com/hkust-nlp/deita, src/deita/selection/filter/base.py).
"""

from __future__ import annotations

import numpy as np

from curate.params import Interval, Text, constraints
from curate.selectors.base import Picks, SelectionView, Selector
from curate.selectors.longest import rank_descending, required_score
from curate.selectors.registry import register

BLOCK = 512  # candidates compared with the kept rows in one matrix product
# scores above which a row ranks after all others, and why
CEILINGS = {"ifd": (1.0, "ifd above 1 ranks last")}


def diversity_filter(x: np.ndarray, order: np.ndarray, n: int, threshold: float,
                     block: int = BLOCK) -> np.ndarray:
    """The first `n` rows of `order` (or fewer) kept greedily: each has cosine similarity at
    most `threshold` to every row kept before it (`x`: L2-normalised rows)."""
    kept: list[int] = []
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    for begin in range(0, len(order), block):
        candidates = order[begin:begin + block]
        alive = np.ones(len(candidates), dtype=bool)
        if kept:
            alive &= (x[candidates] @ x[kept].T).max(1) <= threshold
        among = x[candidates] @ x[candidates].T
        for i in np.flatnonzero(alive):
            if not alive[i]:
                continue
            kept.append(int(candidates[i]))
            if len(kept) == n:
                return np.array(kept, dtype=np.int64)
            alive[i + 1:] &= among[i, i + 1:] <= threshold
    return np.array(kept, dtype=np.int64)


@register
class DeitaSelector(Selector):
    """Score-first, then keep a row only if it is not too similar to any kept row.

    Args:
        quality: the score ranked first: `ifd` by default, or a numeric pool column or
            computed score (larger is better).
        threshold: the largest cosine similarity a kept row may have to a row kept before.
    """

    name = "deita"

    parameter_constraints = constraints(
        quality=Text(),
        threshold=Interval(float, -1, 1),
    )

    def __init__(self, quality: str = "ifd", threshold: float = 0.9):
        self.quality = quality
        self.threshold = threshold

    def pick(self, view: SelectionView, n: int, rng: np.random.Generator) -> Picks:
        quality = required_score(view, self.quality, f"selector '{self.name}'", "quality")
        ceiling, why = CEILINGS.get(self.quality, (np.inf, ""))
        above = quality > ceiling
        ranked = rank_descending(quality, view.keys("deita"), last=above | np.isnan(quality))
        rank = np.empty(len(ranked), dtype=np.int64)
        rank[ranked] = np.arange(1, len(ranked) + 1)
        kept = diversity_filter(view.embeddings, ranked, n, self.threshold)
        fill = ranked[~np.isin(ranked, kept)][:n - len(kept)]
        reasons = [f"{self.quality} rank {rank[r]}; cosine at most {self.threshold} to every "
                   f"row kept before it" for r in kept]
        reasons += [f"{self.quality} rank {rank[r]}; a fill: the similarity filter kept fewer "
                    f"rows than the budget" for r in fill]
        rows = np.concatenate([kept, fill]).astype(np.int64)
        reasons = [f"{reason} ({why})" if above[r] else reason
                   for r, reason in zip(rows, reasons, strict=True)]
        return Picks(rows=rows, scores=quality[rows], reasons=reasons)
