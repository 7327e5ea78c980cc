"""Uniform random selection: the baseline every method is compared with."""

import numpy as np

from curate.exec.keys import row_keys, smallest
from curate.selectors.base import PlannedPicks, Selector
from curate.selectors.registry import register


@register
class RandomSelector(Selector):
    """Draw the budget uniformly without replacement.

    The rows with the smallest keys under (seed, row id): the draw depends on the set of
    rows, not on their order or on how they are sharded."""

    name = "random"

    def __init__(self):
        pass

    def plan(self, pool, group, n, seed, rng) -> PlannedPicks:
        """Each shard sends its n smallest keys; the n smallest of those are the pool's."""
        keys, ids = (np.concatenate(part) for part in
                     zip(*pool.map(_smallest_keys, group.label, seed, n), strict=True))
        chosen = ids[smallest(keys, n)]
        return PlannedPicks(ids=chosen, scores=np.zeros(n), reasons=["uniform random"] * n,
                            clusters=np.full(n, -1))


def _smallest_keys(shard, label, seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rows = shard.rows_of(label)
    keys = row_keys(seed, shard.hashes[rows], "random")
    mine = smallest(keys, n)
    return keys[mine], shard.ids[rows[mine]].astype(str)
