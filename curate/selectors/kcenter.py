"""k-center greedy (farthest-point traversal) on cosine distance."""

from __future__ import annotations

import numpy as np

from curate.exec.keys import row_keys, smallest
from curate.params import Interval, constraints
from curate.selectors.base import Picks, PlannedPicks, SelectionView, Selector
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

    parameter_constraints = constraints(chunk=Interval(int, 1, None))

    def __init__(self, chunk: int = 65536):
        self.chunk = chunk

    def pick(self, view: SelectionView, n: int, rng: np.random.Generator) -> Picks:
        first = int(smallest(view.keys("kcenter"), 1)[0])
        rows, scores = farthest_first(view.embeddings, n, first, self.chunk)
        reasons = ["seed point"] + [f"farthest point, cosine distance {d:.4f}" for d in scores[1:]]
        return Picks(rows=rows, scores=scores, reasons=reasons)

    def plan(self, pool, group, n, seed, rng) -> PlannedPicks:
        """Two-round composable coreset (Indyk et al. 2014; the distributed k-center of
        Malkomes et al. 2015): each shard runs the greedy for n centres; the greedy again
        on the union of those picks gives the n. Approximate: it is not the greedy on the
        whole pool (a 2-approximation there; 4 here). Each reason carries the bound on the
        pool's covering radius that the triangle inequality gives in L2 (unit vectors:
        L2 = sqrt(2 x cosine distance)): the largest shard radius plus the union's."""
        parts = [p for p in pool.map(_shard_centres, group.label, seed, n, self.chunk)
                 if p is not None]
        if len(parts) == 1:  # one shard holds the group: the exact greedy
            ids, scores, bound = parts[0][0], parts[0][2][:-1], ""
        else:
            ids = np.concatenate([p[0] for p in parts])
            vectors = np.concatenate([p[1] for p in parts])
            keys = np.concatenate([p[3] for p in parts])
            rows, scores = farthest_first(vectors, n, int(smallest(keys, 1)[0]), self.chunk)
            ids = ids[rows]
            union_radius = _radius(vectors, rows, self.chunk)
            shard_radius = max(float(p[2][-1]) if len(p[2]) else 0.0 for p in parts)
            radius = np.sqrt(2 * shard_radius) + np.sqrt(2 * union_radius)
            bound = (f"; pool covering radius <= {radius:.4f} L2 (composable coreset, "
                     f"{len(parts)} shards)")
        reasons = [f"seed point{bound}"] + [f"farthest point, cosine distance {d:.4f}{bound}"
                                            for d in scores[1:]]
        return PlannedPicks(ids=ids, scores=scores, reasons=reasons, clusters=np.full(n, -1))


def farthest_first(x: np.ndarray, n: int, first: int, chunk: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(n rows in pick order from `first`, each one's cosine distance to the earlier picks
    when picked; the first's is 0)."""
    distance = np.full(len(x), np.inf, dtype=np.float32)
    rows = np.empty(n, dtype=np.int64)
    scores = np.empty(n)
    current = first
    for step in range(n):
        rows[step], scores[step] = current, distance[current]
        distance[current] = -np.inf
        for start in range(0, len(x), chunk):
            block = slice(start, start + chunk)
            np.minimum(distance[block], 1.0 - x[block] @ x[current], out=distance[block])
        current = int(np.argmax(distance))
    scores[0] = 0.0  # the seed point has no distance to an earlier centre
    return rows, scores


def _radius(x: np.ndarray, centres: np.ndarray, chunk: int) -> float:
    """The largest cosine distance from a row of x to its nearest centre."""
    worst = 0.0
    for start in range(0, len(x), chunk):
        worst = max(worst, float(np.max(np.min(1.0 - x[start:start + chunk] @ x[centres].T,
                                                axis=1))))
    return max(worst, 0.0)


def _shard_centres(shard, label, seed: int, n: int, chunk: int):
    """(ids, vectors, pick distances, keys) of this shard's greedy centres, the pick
    distances ending with the shard's covering radius; None without group rows."""
    rows = shard.rows_of(label)
    if not len(rows):
        return None
    x = shard.load()[rows]
    keys = row_keys(seed, shard.hashes[rows], "kcenter")
    picks, scores = farthest_first(x, min(n, len(rows)), int(smallest(keys, 1)[0]), chunk)
    radius = _radius(x, picks, chunk)
    return (shard.ids[rows[picks]].astype(str), x[picks], np.append(scores, radius),
            keys[picks])
