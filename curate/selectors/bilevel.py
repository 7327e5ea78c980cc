"""bilevel: greedy bilevel coreset on the pool's labels (Borsos, Mutný, Krause, NeurIPS 2020).

The selection is the inner problem's training set: a ridge regression of the labels
(coded +1 / -1, one output per label, RidgeClassifier's model) on the picked rows' vectors,
centred on the pool mean with a constant feature. The outer loss is that ridge's squared
error on the pool's rows. Each step adds the row whose inclusion lowers the outer loss
most, with the labels' budgets (a per-label or stratified budget) as the only constraint.
Without labels the view's k-means clusters stand in for them.
The paper's proxy is a kernel ridge regression with the network's neural tangent kernel;
on frozen embeddings the linear kernel is that kernel, and the probe the selection feeds
is linear too.

Adding row r to the inner set is a rank-one update of the ridge's inverse Gram matrix, so
the change of the outer loss for every candidate has a closed form (`_Greedy`) and each
step costs O(N (d + labels)): no refit per candidate. Written here rather than taken from
the paper's code (github.com/zalanborsos/bilevel_coresets), which refits a kernel ridge
per step and needs an N x N kernel.

The outer loss uses the pool's labels on at most `outer_rows` rows (a keyed draw), never
on the rows `auto` holds out to validate its candidates (`SelectionView.holdout`): a
selection fitted to those rows would win its validation by fitting, not by training well.

Reference:
    Borsos, Mutný, Krause. "Coresets via Bilevel Optimization for Continual Learning and
    Streaming." NeurIPS 2020.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from curate.budget import Budget
from curate.exec.keys import smallest
from curate.params import Interval, constraints
from curate.selectors.base import SelectionView, Selector, selection_table
from curate.selectors.registry import register


@register
class BilevelSelector(Selector):
    """Args:
        ridge: the inner ridge's penalty (on unit vectors; larger keeps the picks nearer
            the label means).
        outer_rows: at most this many pool rows (a keyed draw) measure the outer loss.
        candidate_rows: at most this many pool rows (a keyed draw, topped up to four
            times each label's quota) may be picked.
    """

    name = "bilevel"
    fits_labels = True

    parameter_constraints = constraints(
        ridge=Interval(float, 0, None, closed="neither"),
        outer_rows=Interval(int, 1, None),
        candidate_rows=Interval(int, 1, None),
    )

    def __init__(self, ridge: float = 1.0, outer_rows: int = 20_000,
                 candidate_rows: int = 20_000):
        self.ridge = ridge
        self.outer_rows = outer_rows
        self.candidate_rows = candidate_rows

    def work(self, rows: int, picks: int, dim: int, labels: int) -> float:
        """Each step updates every candidate's state: two products with its vector and a
        few with its label residuals, and the (dim x dim) inverse."""
        candidates = min(rows, max(self.candidate_rows, 4 * picks))
        return float(picks) * (2 * candidates * (dim + 3 * labels) + 2 * dim * dim)

    def select(self, view: SelectionView, budget: Budget, seed: int) -> pl.DataFrame:
        """All labels are fitted together, so the budget is met by one greedy over the
        view with each label's quota (none when the budget is a plain count)."""
        view = view.with_seed(seed)
        order = np.argsort(view.ids, kind="stable")  # ties fall to the smaller id
        x = _features(view.embeddings[order])
        # Without labels the k-means clusters serve as pseudo-labels, as for the
        # cross-fitted probe's scores: the picks then reproduce the cluster structure.
        labels = (view.labels if view.labels is not None else view.clusters)[order].astype(str)
        names, label_of = np.unique(labels, return_inverse=True)
        quota = (np.array([budget.per_label.get(name, 0) for name in names])
                 if self.selects_per_label(budget) else None)
        outer = np.argsort(order)[view.objective_rows("bilevel-outer", self.outer_rows)]
        candidates = _candidates(view.keys("bilevel-candidates")[order], label_of, quota,
                                 self.candidate_rows)
        greedy = _Greedy(x[candidates], label_of[candidates], len(names), x[outer],
                         label_of[outer], self.ridge)
        picked, gains = greedy.run(min(budget.total, len(view)), quota)
        rows = candidates[picked]
        self._check(rows, min(budget.total, len(view)))
        reasons = [f"bilevel pick {i + 1}: lowers the ridge fit's squared error on "
                   f"{len(outer):,} pool rows by {gain:.4g}" for i, gain in enumerate(gains)]
        return selection_table(self.name, view.ids[order][rows], gains, reasons,
                               np.full(len(rows), -1), None)


def _candidates(keys: np.ndarray, label_of: np.ndarray, quota: np.ndarray | None,
                rows: int) -> np.ndarray:
    """Positions the greedy may pick, in position order: the `rows` smallest keys, and in
    each label at least its smallest-keyed rows four times its quota (each step updates
    every candidate's state, so the cap bounds a step's cost on a large pool)."""
    if len(keys) <= rows:
        return np.arange(len(keys))
    keep = np.zeros(len(keys), dtype=bool)
    keep[smallest(keys, rows)] = True
    if quota is not None:
        for label in np.flatnonzero(quota):
            members = np.flatnonzero(label_of == label)
            keep[members[smallest(keys[members], 4 * quota[label])]] = True
    return np.flatnonzero(keep)


def _features(vectors: np.ndarray) -> np.ndarray:
    """Vectors centred on their mean, with a constant feature (the ridge's intercept)."""
    x = vectors.astype(np.float64)
    x -= x.mean(axis=0)
    return np.hstack([x, np.ones((len(x), 1))])


def _coded(label_of: np.ndarray, labels: int) -> np.ndarray:
    """Labels as +1 (its own) / -1 (the others) targets, one column per label."""
    y = np.full((len(label_of), labels), -1.0)
    y[np.arange(len(label_of)), label_of] = 1.0
    return y


class _Greedy:
    """The greedy over candidates `x` (N, d) with labels `label_of` (codes < `labels`), outer
    loss on the rows `v` with labels `v_label_of`, ridge penalty `ridge`.

    State after picking S, with A = X_S'X_S + ridge*I and W = A^-1 X_S'Y_S (the ridge),
    for every candidate j: u_j = A^-1 x_j, c_j = 1 + x_j'u_j, e_j = y_j - W'x_j (its
    residual), q_j = |V u_j|^2 and t_j = u_j'V'(VW - Y_V) (V: the outer rows). Adding r
    moves the ridge to W + u_r e_r'/c_r (Sherman-Morrison), so the outer loss changes by
    2 t_r.e_r / c_r + q_r |e_r|^2 / c_r^2, and every state term has a rank-one update.
    """

    def __init__(self, x: np.ndarray, label_of: np.ndarray, labels: int, v: np.ndarray,
                 v_label_of: np.ndarray, ridge: float):
        self.x, self.label_of = x, label_of
        self.gram = v.T @ v  # V'V
        self.a_inv = np.eye(x.shape[1]) / ridge
        u = x @ self.a_inv  # rows are u_j' (A^-1 is symmetric)
        self.c = 1.0 + (u * x).sum(axis=1)
        self.q = ((u @ self.gram) * u).sum(axis=1)
        self.t = -u @ (v.T @ _coded(v_label_of, labels))  # W = 0: VW - Y_V = -Y_V
        self.e = _coded(label_of, labels)

    def delta(self) -> np.ndarray:
        """The outer loss's change if each candidate were added now."""
        return (2.0 * (self.t * self.e).sum(axis=1) / self.c
                + self.q * (self.e ** 2).sum(axis=1) / self.c ** 2)

    def add(self, r: int) -> None:
        u = self.a_inv @ self.x[r]
        gram_u = self.gram @ u
        c, e, t = self.c[r], self.e[r].copy(), self.t[r].copy()
        # x_j'u and u_j'V'V u in one pass over the candidates (the step's memory traffic)
        ux, uj_gram_u = (self.x @ np.stack([u, self.a_inv @ gram_u], axis=1)).T
        u_gram_u = u @ gram_u
        self.t += (np.outer(uj_gram_u, e) - np.outer(ux, t)) / c - np.outer(ux, e) * (
            u_gram_u / c ** 2)
        self.q += -2.0 * ux * uj_gram_u / c + ux ** 2 * u_gram_u / c ** 2
        self.c -= ux ** 2 / c
        self.e -= np.outer(ux, e) / c
        self.a_inv -= np.outer(u, u) / c

    def run(self, n: int, quota: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(n picked positions in pick order, the outer loss each removed); `quota`: rows
        each label may give (None: any label)."""
        open_rows = np.ones(len(self.x), dtype=bool)
        left = None if quota is None else quota.copy()
        rows, gains = [], []
        for _ in range(n):
            allowed = open_rows if left is None else open_rows & (left[self.label_of] > 0)
            delta = np.where(allowed, self.delta(), np.inf)
            r = int(np.argmin(delta))
            rows.append(r)
            gains.append(-delta[r])
            open_rows[r] = False
            if left is not None:
                left[self.label_of[r]] -= 1
            self.add(r)
        return np.array(rows, dtype=np.int64), np.array(gains)
