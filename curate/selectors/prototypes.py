"""prototypes: k-means representatives, moved to the rows that label the pool best.

A few rows per label train a classifier that behaves like a nearest-prototype rule: each
row is labelled as its most similar pick. `kmeans-nearest` picks the row nearest each
centroid of a k-means inside each label, which ignores the other labels; this selector
starts from those picks and then uses the pool's labels: each pick in turn is replaced by
the row of its own label, among the `candidates` rows nearest it, under which the picks'
1-nearest-neighbour rule (cosine) labels the most objective rows correctly (a keyed draw
of at most `objective_rows` pool rows, never those `auto` holds out to validate on; ties
to the current pick, then the smaller id),
for `sweeps` passes or until a pass changes nothing. Each label keeps its number of picks.

This is PAM's swap step (Kaufman and Rousseeuw's k-medoids) with the pool's 1-NN accuracy
as the objective in place of the distance sum; no library offers that objective, so the
search is written here. Without labels the view's k-means clusters stand in for them.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from curate.budget import Budget
from curate.exec.keys import smallest
from curate.params import Interval, constraints
from curate.selectors.base import SelectionView, Selector, selection_table
from curate.selectors.registry import make_selector, register

# A pass scores each pick's candidates on every objective row: this many (candidate, row)
# pairs bound a pass when `candidates` is None, so a pass's cost does not grow with the pool.
PASS_WORK = 200_000_000


@register
class PrototypesSelector(Selector):
    """Args:
        candidates: rows of its label, nearest a pick, that may replace it; None: as many
            as keep a pass within `PASS_WORK` (candidate, objective row) pairs, at least
            50 and at most the label's rows (every row of the label at a few picks).
        sweeps: passes over the picks at most.
        objective_rows: at most this many pool rows (a keyed draw) score the picks.
    """

    name = "prototypes"
    fits_labels = True

    parameter_constraints = constraints(
        candidates=[None, Interval(int, 1, None)],
        sweeps=Interval(int, 0, None),
        objective_rows=Interval(int, 1, None),
    )

    def __init__(self, candidates: int | None = None, sweeps: int = 2,
                 objective_rows: int = 10_000):
        self.candidates = candidates
        self.sweeps = sweeps
        self.objective_rows = objective_rows

    def select(self, view: SelectionView, budget: Budget, seed: int) -> pl.DataFrame:
        view = view.with_seed(seed)
        start = make_selector("kmeans-nearest").select(view, budget, seed)
        position = {row_id: i for i, row_id in enumerate(view.ids)}
        picks = np.array([position[row_id] for row_id in start["id"]], dtype=np.int64)
        labels = (view.labels if view.labels is not None else view.clusters).astype(str)
        _, label_of = np.unique(labels, return_inverse=True)
        objective = view.objective_rows("prototypes-objective", self.objective_rows)
        search = _Search(view.embeddings, label_of, view.ids, objective, picks)
        candidates = self.candidates or max(50, PASS_WORK // (len(picks) * len(objective)))
        search.run(candidates, self.sweeps)
        rows = search.picks
        self._check(rows, len(start))
        correct = search.correct()
        reasons = [(f"moved from {view.ids[was]}: " if was != row else "kept: ")
                   + f"the picks' 1-NN rule labels {correct:,} of {len(objective):,} "
                     f"objective rows correctly"
                   for row, was in zip(rows, picks, strict=True)]
        return selection_table(self.name, view.ids[rows], search.credits().astype(float),
                               reasons, start["cluster"].to_numpy(), None)


class _Search:
    """The swap search. For the objective rows it keeps, per label, the best and
    second-best cosine to that label's picks and which pick gives the best, so a pick's
    removal and every candidate's arrival are scored without recomputing the others."""

    def __init__(self, x: np.ndarray, label_of: np.ndarray, ids: np.ndarray,
                 objective: np.ndarray, picks: np.ndarray):
        self.x, self.label_of, self.ids = x, label_of, ids
        self.labels = int(label_of.max()) + 1
        self.vectors = x[objective]
        self.truth = label_of[objective]
        self.picks = picks.copy()
        n = len(objective)
        self.best = np.full((n, self.labels), -np.inf)
        self.second = np.full((n, self.labels), -np.inf)
        self.best_pick = np.full((n, self.labels), -1)
        for label in np.unique(label_of[picks]):
            self._refresh(label)

    def _refresh(self, label: int) -> None:
        members = np.flatnonzero(self.label_of[self.picks] == label)
        sims = self.vectors @ self.x[self.picks[members]].T
        order = np.argsort(-sims, axis=1, kind="stable")
        self.best[:, label] = np.take_along_axis(sims, order[:, :1], axis=1)[:, 0]
        self.best_pick[:, label] = members[order[:, 0]]
        self.second[:, label] = (np.take_along_axis(sims, order[:, 1:2], axis=1)[:, 0]
                                 if len(members) > 1 else -np.inf)

    def correct(self) -> int:
        return int((self.best.argmax(axis=1) == self.truth).sum())

    def credits(self) -> np.ndarray:
        """Per pick, the objective rows it labels correctly (their most similar pick)."""
        right = np.flatnonzero(self.best.argmax(axis=1) == self.truth)
        return np.bincount(self.best_pick[right, self.truth[right]],
                           minlength=len(self.picks))

    def run(self, candidates: int, sweeps: int) -> None:
        """Swap until a pass changes nothing or `sweeps` passes."""
        for _ in range(sweeps):
            if not sum(self._improve(i, candidates) for i in range(len(self.picks))):
                break

    def _improve(self, i: int, candidates: int) -> bool:
        label, pick = self.label_of[self.picks[i]], self.picks[i]
        # the label's score without pick i
        without = np.where(self.best_pick[:, label] == i, self.second[:, label],
                           self.best[:, label])
        others = self.best.copy()
        others[:, label] = -np.inf
        rival, rival_label = others.max(axis=1), others.argmax(axis=1)
        own = self.truth == label
        other_right = (rival_label == self.truth) & ~own & (rival > -np.inf)

        rows = self._candidates(label, pick, candidates)
        with_candidate = np.maximum(without[:, None], self.vectors @ self.x[rows].T)
        right = np.where(own[:, None], with_candidate > rival[:, None],
                         other_right[:, None] & (rival[:, None] > with_candidate))
        counts = right.sum(axis=0)
        current = int(np.flatnonzero(rows == pick)[0])
        best = int(np.argmax(counts))
        if counts[best] <= counts[current]:
            return False
        self.picks[i] = rows[best]
        self._refresh(label)
        return True

    def _candidates(self, label: int, pick: int, candidates: int) -> np.ndarray:
        """The pick and the rows of its label nearest it that are not picks, by id."""
        pool = np.flatnonzero(self.label_of == label)
        pool = pool[(pool == pick) | ~np.isin(pool, self.picks)]
        if len(pool) > candidates:
            sims = self.x[pool] @ self.x[pick]
            pool = pool[smallest(-sims, candidates)]
        return pool[np.argsort(self.ids[pool], kind="stable")]
