"""The one interface every selector shares, and the view of the data it selects from.

A selector is shaped like a scikit-learn estimator: its parameters are explicit keyword
arguments of `__init__`, stored as given. `select(view, budget, seed)` returns the
Selection table: one row per chosen example saying which method chose it and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

import numpy as np
import polars as pl

from curate.budget import Budget

SELECTION_SCHEMA = {"id": pl.Utf8, "selector": pl.Utf8, "round": pl.Int32,
                    "cluster": pl.Int64, "score": pl.Float64, "reason": pl.Utf8}


@dataclass
class SelectionView:
    """What a selector may look at. Clusters are computed on first use, through `cluster_fn`.

    Attributes:
        ids: (N,) row ids.
        embeddings: (N, d) float32, L2-normalised.
        labels: (N,) label strings, or None.
        scores: score name -> (N,) array (quality, influence, ...).
        cluster_fn: returns (centroids (k, d), assignment (N,)) for the whole pool.
        score_fn: score_fn(name) computes a missing score (and any computed with it);
            by default influence and effort come from a surrogate trained on this view.
        target: (M, d) embeddings of the target set, for distribution-shift selectors.
    """

    ids: np.ndarray
    embeddings: np.ndarray
    labels: np.ndarray | None = None
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    cluster_fn: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None
    score_fn: Callable[[str], dict[str, np.ndarray]] | None = None
    target: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def _clusters(self) -> tuple[np.ndarray, np.ndarray]:
        if self.cluster_fn is None:
            return self.embeddings.mean(0, keepdims=True), np.zeros(len(self), dtype=np.int64)
        return self.cluster_fn()

    @property
    def centroids(self) -> np.ndarray:
        return self._clusters[0]

    @property
    def clusters(self) -> np.ndarray:
        """(N,) cluster id of each row."""
        return self._clusters[1]

    def score(self, name: str) -> np.ndarray:
        """The named score, computed on first use (surrogate scores need no set-up)."""
        if name not in self.scores:
            computed = self.score_fn(name) if self.score_fn else self._surrogate_scores(name)
            for key, values in computed.items():  # never replace a score given or computed
                self.scores.setdefault(key, values)
        return self.scores[name]

    def _surrogate_scores(self, name: str) -> dict[str, np.ndarray]:
        from curate.scoring import SURROGATE_SCORES, surrogate_scores

        if name not in SURROGATE_SCORES:
            raise KeyError(f"no score named '{name}' and no way to compute it")
        # Without labels the k-means clusters serve as the surrogate's pseudo-labels.
        labels = self.labels if self.labels is not None else self.clusters
        return surrogate_scores(self.embeddings, labels)

    def subset(self, rows: np.ndarray) -> SelectionView:
        """The view restricted to `rows`; clusters and scores stay those of the whole pool."""
        return SelectionView(
            ids=self.ids[rows], embeddings=self.embeddings[rows],
            labels=None if self.labels is None else self.labels[rows],
            scores={k: v[rows] for k, v in self.scores.items()},
            cluster_fn=lambda: (self.centroids, self.clusters[rows]),
            score_fn=lambda name: {name: self.score(name)[rows]},
            target=self.target,
        )


@dataclass
class Picks:
    """Row positions chosen by a selector, in choice order, with why each was chosen."""

    rows: np.ndarray
    scores: np.ndarray
    reasons: list[str]
    clusters: np.ndarray | None = None
    rounds: np.ndarray | None = None


class Selector:
    """Base class: subclasses set `name` and implement `pick(view, n, rng)`."""

    name: ClassVar[str]
    needs_clusters: ClassVar[bool] = False

    def pick(self, view: SelectionView, n: int, rng: np.random.Generator) -> Picks:
        """Choose exactly `n` distinct rows of `view` (n <= len(view))."""
        raise NotImplementedError

    def get_params(self) -> dict:
        import inspect

        return {p: getattr(self, p) for p in inspect.signature(type(self).__init__).parameters
                if p != "self"}

    def select(self, view: SelectionView, budget: Budget, seed: int) -> pl.DataFrame:
        """The Selection table for `budget` rows of `view`; per-label budgets pick per label."""
        rng = np.random.default_rng(seed)
        if budget.per_label is None:
            return self._table(view, self._checked_pick(view, budget.total, rng))
        parts = []
        for label, n in sorted(budget.per_label.items()):
            rows = np.flatnonzero(view.labels == label)
            sub = view.subset(rows)
            parts.append(self._table(sub, self._checked_pick(sub, n, rng)))
        return pl.concat(parts)

    def _checked_pick(self, view: SelectionView, n: int, rng: np.random.Generator) -> Picks:
        picks = self.pick(view, min(n, len(view)), rng)
        rows = np.asarray(picks.rows)
        if len(rows) != min(n, len(view)) or len(np.unique(rows)) != len(rows):
            raise RuntimeError(f"selector {self.name} returned {len(rows)} rows "
                               f"({len(np.unique(rows))} distinct) for a budget of {n}")
        return picks

    def _table(self, view: SelectionView, picks: Picks) -> pl.DataFrame:
        rows = np.asarray(picks.rows, dtype=np.int64)
        clusters = picks.clusters if picks.clusters is not None else (
            view.clusters[rows] if self.needs_clusters else np.full(len(rows), -1))
        rounds = picks.rounds if picks.rounds is not None else np.zeros(len(rows))
        return pl.DataFrame({
            "id": view.ids[rows].astype(str), "selector": [self.name] * len(rows),
            "round": np.asarray(rounds, dtype=np.int32),
            "cluster": np.asarray(clusters, dtype=np.int64),
            "score": np.asarray(picks.scores, dtype=np.float64), "reason": picks.reasons,
        }, schema=SELECTION_SCHEMA)
