"""k-center greedy (farthest-point traversal) on cosine distance."""

from __future__ import annotations

import numpy as np

from curate.exec.keys import smallest
from curate.selectors.base import Picks, SelectionView, Selector
from curate.selectors.registry import register


@register
class KCenterSelector(Selector):
    """Start at a seeded random point; repeatedly add the point farthest from all chosen ones.

    A 2-approximation of the minimax-cover objective (Gonzalez 1985), the core-set
    selector of Sener & Savarese (2018). Distances are 1 - cosine, updated in row chunks.

    Args:
        chunk: rows per distance update, bounding temporary memory.
    """

    name = "kcenter"

    def __init__(self, chunk: int = 65536):
        self.chunk = chunk

    def pick(self, view: SelectionView, n: int, rng: np.random.Generator) -> Picks:
        x = view.embeddings
        distance = np.full(len(view), np.inf, dtype=np.float32)
        rows = np.empty(n, dtype=np.int64)
        scores = np.empty(n)
        current = int(smallest(view.keys("kcenter"), 1)[0])
        for step in range(n):
            rows[step], scores[step] = current, distance[current]
            distance[current] = -np.inf
            for start in range(0, len(view), self.chunk):
                block = slice(start, start + self.chunk)
                np.minimum(distance[block], 1.0 - x[block] @ x[current], out=distance[block])
            current = int(np.argmax(distance))
        scores[0] = np.nan  # the seed point has no distance to an earlier centre
        reasons = ["seed point"] + [f"farthest point, cosine distance {d:.4f}" for d in scores[1:]]
        return Picks(rows=rows, scores=np.nan_to_num(scores, nan=0.0), reasons=reasons)
