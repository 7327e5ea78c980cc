"""Validation on the pool's own labels: which candidate selection trains the better probe.

`auto` runs each candidate selector of its rule and keeps the selection whose logistic
probe (the benchmark's `probe` evaluator) scores best on rows of the pool that no candidate
picked. Those rows are a keyed draw (seed, row id; `curate.exec.keys`) of at most
`rows` rows and half the pool, so the choice is the same however the pool is sharded or
ordered; candidates that fit the pool's labels leave that draw out (`validation_draw`).

A candidate with fewer than two rows per label it covers gives the probe one example of
most labels: where the candidates cover different labels, the probes' held-out hits say
more about which labels each happened to cover than about its rows. Validation is skipped
then (`Validation.skipped`), and auto keeps its first candidate and says why. Under a
budget per label every candidate covers the same labels, and the hits compare the rows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from curate.budget import Budget
from curate.exec.keys import row_keys, smallest
from curate.exec.shards import ShardedPool, in_id_order

DRAW = "auto-validation"


@dataclass(frozen=True)
class Validation:
    """Which held-out pool rows each candidate's probe gets right (`correct`)."""

    correct: dict[str, np.ndarray]
    skipped: str | None = None  # why the candidates were not scored (then none held out)

    @property
    def held_out(self) -> int:
        return len(next(iter(self.correct.values()), []))

    @property
    def accuracy(self) -> dict[str, float]:
        return {name: float(c.mean()) if len(c) else 0.0 for name, c in self.correct.items()}

    def lead(self, name: str, over: str) -> float:
        """How far `name` leads `over`, in standard errors of the paired difference
        (McNemar's: the rows only one of them gets right); 0 when they agree everywhere."""
        only = int((self.correct[name] & ~self.correct[over]).sum())
        other = int((self.correct[over] & ~self.correct[name]).sum())
        return (only - other) / np.sqrt(only + other) if only + other else 0.0

    def best(self, order: list[str], margin: float) -> str:
        """The first candidate (the rule's default), unless others lead it by more than
        `margin` standard errors: then the most accurate of those."""
        leaders = [name for name in order[1:] if self.lead(name, order[0]) > margin]
        return max(leaders, key=lambda name: (self.accuracy[name], -order.index(name)),
                   default=order[0])

    def describe(self) -> str:
        if self.skipped:
            return f"not validated: {self.skipped}"
        if not self.held_out:
            return "not validated: the candidates picked every pool row between them"
        scores = ", ".join(f"{name} {acc:.4f}" for name, acc in self.accuracy.items())
        first, *others = self.correct
        leads = ", ".join(f"{name} leads by {self.lead(name, first):+.1f} SE" for name in others)
        return (f"validated on {self.held_out:,} held-out pool rows (probe accuracy {scores}; "
                f"{leads})")


def cannot_validate(labels: np.ndarray | None) -> str | None:
    """Why the pool's labels cannot score a probe (None: they can)."""
    if labels is None:
        return "the pool has no labels"
    return "the pool has one label" if len(np.unique(labels)) < 2 else None


def validate(pool: ShardedPool, picks: dict[str, np.ndarray], seed: int, rows: int
             ) -> Validation:
    """Score each candidate's picked ids (`picks`: name -> ids) by the probe trained on
    them, on up to `rows` pool rows none of them picked (the pool has two labels or more:
    `cannot_validate`)."""
    from curate.models.probe import ProbeEvaluator

    picked = np.unique(np.concatenate([np.asarray(p).astype(str) for p in picks.values()]))
    ids = np.concatenate([s.ids.astype(str) for s in pool.shards])
    keys = row_keys(seed, pool.hashes(), DRAW)
    held = np.flatnonzero(validation_draw(keys, rows) & ~np.isin(ids, picked))
    if not len(held):  # nothing held out: every candidate scores alike, the first wins
        return Validation({name: np.zeros(0, dtype=bool) for name in picks})
    threshold = keys[held].max()
    parts = [p for p in pool.map(_validation_rows, seed, threshold, picked) if p is not None]
    found, probe_x, probe_y = in_id_order(*(np.concatenate(part) for part in zip(*parts,
                                                                              strict=True)))
    is_picked = np.isin(found, picked)
    held_out = np.flatnonzero(~is_picked)
    rows = {name: np.flatnonzero(np.isin(found, np.asarray(p).astype(str)))
            for name, p in picks.items()}
    covered = {name: frozenset(probe_y[r].tolist()) for name, r in rows.items()}
    if len(set(covered.values())) > 1 and (
            thin := [f"{name} {len(r)} rows over {len(covered[name])} labels"
                     for name, r in rows.items() if 2 * len(covered[name]) > len(r)]):
        return Validation({name: np.zeros(0, dtype=bool) for name in picks},
                          skipped=f"fewer than 2 rows per label to fit the probe on "
                                  f"({', '.join(thin)})")
    probe = ProbeEvaluator(probe_x, probe_y, held_out)
    return Validation({name: probe.predict(r, seed) == probe_y[held_out]
                       for name, r in rows.items()})


def can_fit_probes(budget) -> bool:
    """Whether a selection of `budget` gives its probe two rows per label it covers, as
    `validate` asks (a budget per label decides it before any selection)."""
    if budget.per_label is None:
        return True
    covered = sum(1 for n in budget.per_label.values() if n)
    return 2 * covered <= budget.total


def validation_draw(keys: np.ndarray, rows: int) -> np.ndarray:
    """(N,) bool: the rows validation may score on, the `rows` smallest `keys` of the draw
    (DRAW under the seed) and at most half the pool, so the other half is left to the
    selectors that fit the pool's labels (`SelectionView.holdout`)."""
    mask = np.zeros(len(keys), dtype=bool)
    mask[smallest(keys, min(rows, len(keys) // 2))] = True
    return mask


def share_of(budget: Budget, labels: np.ndarray | None, keep: np.ndarray) -> Budget:
    """`budget` for the pool's rows `keep` (bool, in `labels`' order): the same share of
    the pool, and under a per-label budget the same share of each label, so a candidate
    run on the pool without the validation draw selects as it would on the whole pool."""
    if budget.per_label is None:
        return replace(budget, total=round(budget.total * keep.sum() / len(keep)))
    names, sizes = np.unique(labels, return_counts=True)
    kept = dict(zip(*np.unique(labels[keep], return_counts=True), strict=True))
    share = {label: min(kept.get(label, 0), round(budget.per_label[label] * kept.get(label, 0)
                                                   / size))
             for label, size in zip(names, sizes, strict=True) if label in budget.per_label}
    per_label = {label: n for label, n in share.items() if n}
    return replace(budget, total=sum(per_label.values()), per_label=per_label,
                   empty_labels=budget.empty_labels + tuple(sorted(set(share) - set(per_label))))


def _validation_rows(shard, seed, threshold, picked):
    """(ids, vectors, labels) of this shard's rows that a candidate picked or that are
    held out (key <= threshold), or None."""
    ids = shard.ids.astype(str)
    is_picked = np.isin(ids, picked)
    mine = np.flatnonzero(is_picked | (row_keys(seed, shard.hashes, DRAW) <= threshold))
    if not len(mine):
        return None
    return ids[mine], shard.load()[mine], shard.labels.astype(str)[mine]
