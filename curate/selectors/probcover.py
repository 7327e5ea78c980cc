"""ProbCover: greedy maximum coverage of delta-balls (Yehuda et al., NeurIPS 2022).

The graph has an edge x -> y when ||x - y|| < delta (the ball of x covers y). Repeatedly
the point whose ball covers the most still-uncovered points is chosen (ties: the lowest
row), and those points become covered. Once everything is covered the rest of the budget
is drawn at random (the official code, github.com/avihu111/TypiClust
deep-al/pycls/al/prob_cover.py, would pick row 0 again and again).

delta: given, or the paper's rule: the largest candidate whose balls are pure (all points
of the ball share the centre's k-means pseudo-label, k = number of labels, or `classes`)
for at least `purity` of the points. Purity is estimated on a seeded sample of ball
centres. The graph comes from faiss range search in chunks (an inverted file above 20k
rows, see `ball_graph`) and is held as CSR arrays: no N x N matrix. The ball relation is
symmetric, so the points whose coverage gain drops when y is covered are y's own
neighbours.
"""

from __future__ import annotations

import numpy as np

from curate.errors import CurateError
from curate.exec.keys import smallest
from curate.index.coverage import neighbour_index
from curate.params import Interval, constraints
from curate.selectors.base import Picks, SelectionView, Selector
from curate.selectors.registry import register

DELTAS = tuple(np.round(np.arange(0.05, 1.41, 0.05), 2))  # L2 distances of unit vectors


def ball_graph(x: np.ndarray, delta: float, chunk: int = 4096, max_edges: int = 300_000_000,
               exact_below: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """CSR (offsets (N+1,), neighbours) of ||x_i - x_j|| < delta, self included.

    Up to `exact_below` rows the search is exhaustive. Above it, a flat range search costs
    N^2 d (too slow at 100k rows: benchmarks/selection.md, "ProbCover's ball graph above
    20k rows"), so it goes through a faiss inverted file (4 sqrt(N) lists, 8 probed): a
    ball may miss neighbours that fall in unprobed lists, which makes coverage gains slight
    underestimates, never false edges.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    index = neighbour_index(x, exact_below)
    radius = np.float32(delta) ** 2  # faiss returns squared L2 below the radius
    offsets, parts, edges = [np.zeros(1, dtype=np.int64)], [], 0
    for start in range(0, len(x), chunk):
        lims, _, found = index.range_search(x[start:start + chunk], float(radius))
        edges += len(found)
        if edges > max_edges:
            raise CurateError(f"probcover's delta {delta} gives over {max_edges:,} ball edges "
                              f"on {len(x):,} rows", "set a smaller select.params.delta")
        offsets.append(lims[1:].astype(np.int64) + offsets[-1][-1])
        parts.append(found.astype(np.int32))
    return np.concatenate(offsets), np.concatenate(parts) if parts else np.zeros(0, np.int32)


def ball_purity(x: np.ndarray, pseudo: np.ndarray, deltas, centres: np.ndarray,
                chunk: int = 256) -> np.ndarray:
    """For each delta, the fraction of sampled centres whose ball holds one pseudo-label.

    A centre's ball is pure below the distance to its nearest point of another pseudo-label,
    found in blocks of `chunk` centres against all rows."""
    x = np.asarray(x, dtype=np.float32)
    norms = (x * x).sum(axis=1)
    pure_radius = np.empty(len(centres))
    for start in range(0, len(centres), chunk):
        block = centres[start:start + chunk]
        squared = norms[block, None] + norms[None, :] - 2.0 * (x[block] @ x.T)
        squared[pseudo[None, :] == pseudo[block, None]] = np.inf
        pure_radius[start:start + chunk] = np.sqrt(np.maximum(squared.min(axis=1), 0.0))
    return np.array([(pure_radius >= d).mean() for d in deltas])


def csr_rows(offsets: np.ndarray, neighbours: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The neighbours of `rows`, concatenated."""
    lengths = offsets[rows + 1] - offsets[rows]
    ends = np.cumsum(lengths)
    positions = np.arange(ends[-1] if len(ends) else 0) + np.repeat(offsets[rows] - ends
                                                                     + lengths, lengths)
    return neighbours[positions]


def choose_delta(x: np.ndarray, classes: int, purity: float, centres: np.ndarray,
                 clusterer) -> float:
    """The largest candidate delta with ball purity >= `purity` (the paper's rule), over
    balls around the rows `centres`."""
    _, pseudo = clusterer(classes)
    purities = ball_purity(x, pseudo, DELTAS, centres)
    pure = np.flatnonzero(purities >= purity)
    return float(DELTAS[pure[-1]]) if len(pure) else float(DELTAS[0])


def greedy_cover(offsets: np.ndarray, neighbours: np.ndarray, n: int
                 ) -> tuple[list[int], list[int]]:
    """Greedy max coverage: (chosen rows, newly covered count of each) until n are chosen
    or everything is covered."""
    size = len(offsets) - 1
    gain = np.diff(offsets).astype(np.int64)
    covered = np.zeros(size, dtype=bool)
    chosen, gains = [], []
    while len(chosen) < n and not covered.all():
        best = int(np.argmax(gain))
        ball = neighbours[offsets[best]:offsets[best + 1]]
        fresh = ball[~covered[ball]]
        covered[fresh] = True
        chosen.append(best)
        gains.append(len(fresh))
        # every point whose ball held a newly covered point now covers one fewer
        gain -= np.bincount(csr_rows(offsets, neighbours, fresh), minlength=size)
        gain[best] = -1  # chosen: never again
    return chosen, gains


@register
class ProbCoverSelector(Selector):
    """Args:
        delta: ball radius (L2 between unit vectors); None chooses it by ball purity.
        purity: the purity the chosen delta must reach (the paper's 0.95).
        classes: k of the pseudo-label k-means for the purity rule; None: the number of
            labels in the pool, else 10.
        purity_sample: ball centres sampled to estimate purity.
    """

    name = "probcover"

    parameter_constraints = constraints(
        delta=[None, Interval(float, 0, None, closed="neither")],
        purity=Interval(float, 0, 1, closed="right"),
        classes=[None, Interval(int, 1, None)],
        purity_sample=Interval(int, 1, None),
    )

    def __init__(self, delta: float | None = None, purity: float = 0.95,
                 classes: int | None = None, purity_sample: int = 2000):
        self.delta = delta
        self.purity = purity
        self.classes = classes
        self.purity_sample = purity_sample

    def pick(self, view: SelectionView, n: int, rng: np.random.Generator) -> Picks:
        delta = self.delta
        if delta is None:
            classes = self.classes or (len(np.unique(view.labels)) if view.labels is not None
                                       and len(np.unique(view.labels)) > 1 else 10)
            centres = smallest(view.keys("probcover-purity"), self.purity_sample)
            delta = choose_delta(view.embeddings, classes, self.purity, centres,
                                 view.clustering)
        offsets, neighbours = ball_graph(view.embeddings, delta)
        chosen, gains = greedy_cover(offsets, neighbours, n)
        reasons = [f"covers {g} new rows (delta {delta:.2f})" for g in gains]
        if len(chosen) < n:  # all covered: the rest at random
            rest = np.setdiff1d(np.arange(len(view)), chosen)
            fill = rest[smallest(view.keys("probcover-fill")[rest], n - len(chosen))]
            chosen = chosen + fill.tolist()
            gains = gains + [0] * len(fill)
            reasons += [f"random fill: every row covered (delta {delta:.2f})"] * len(fill)
        return Picks(rows=np.array(chosen, dtype=np.int64),
                     scores=np.array(gains, dtype=np.float64), reasons=reasons)
