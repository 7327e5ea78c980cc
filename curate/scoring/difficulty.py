"""Difficulty and uncertainty of every row, from a cross-fitted probe on the pool's labels.

The rows are split into `folds` by a key of their id (so no row order or sharding changes
them); each fold is scored by a linear probe trained on the other folds, so no row is scored
by a model that saw it. The probe is the least-squares classifier (ridge regression onto
the labels coded +1/-1, intercept unpenalised: scikit-learn's RidgeClassifier), whose fit is
one d x d solve: a logistic probe's iterations cost minutes on a 100k-row pool, and margins
only have to rank rows. The folds share one pass over the rows: each fold's sums (X'X, X'Y,
column sums) are computed once and a fold's training statistics are the total minus its
own, where scikit-learn would refit every fold from the rows. From a fold's outputs f:

    difficulty  = max_{y != label} f(y) - f(label)    above 0 the probe is wrong
    uncertainty = 1 - min(f(first) - f(second), 1)    margin uncertainty, in [0, 1]

Difficulty is the margin score of data-pruning work (EL2N's cheaper cousin: one probe on
frozen embeddings instead of early-training outputs of the network); CCS ranks rows by it,
UHerding weighs coverage by the uncertainty.

References:
    Paul, Ganguli, Dziugaite. "Deep Learning on a Data Diet: Finding Important Examples
    Early in Training." NeurIPS 2021 (EL2N). Zheng et al. "Coverage-centric Coreset
    Selection for High Pruning Rates." ICLR 2023.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curate.exec.keys import row_keys

PROBE_SCORES = ("difficulty", "uncertainty")
DRAW = "difficulty-folds"


@dataclass
class _Sums:
    """Sufficient statistics of ridge regression over a set of rows (float64)."""

    gram: np.ndarray  # X'X (d, d)
    cross: np.ndarray  # X'Y (d, L)
    x: np.ndarray  # column sums of X (d,)
    y: np.ndarray  # column sums of Y (L,)
    n: int

    @classmethod
    def of(cls, x: np.ndarray, targets: np.ndarray, classes: int) -> _Sums:
        x = x.astype(np.float64)  # float32 sums would depend on the row order in the 6th digit
        coded = -np.ones((len(x), classes))
        coded[np.arange(len(x)), targets] = 1.0
        return cls(x.T @ x, x.T @ coded, x.sum(axis=0), coded.sum(axis=0), len(x))

    def __add__(self, other: _Sums) -> _Sums:
        return _Sums(self.gram + other.gram, self.cross + other.cross, self.x + other.x,
                     self.y + other.y, self.n + other.n)

    def __sub__(self, other: _Sums) -> _Sums:
        return _Sums(self.gram - other.gram, self.cross - other.cross, self.x - other.x,
                     self.y - other.y, self.n - other.n)


def ridge_fit(sums: _Sums, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """(W, b) of ridge regression with an unpenalised intercept, from centred sums."""
    mean_x, mean_y = sums.x / sums.n, sums.y / sums.n
    gram = sums.gram - sums.n * np.outer(mean_x, mean_x)
    cross = sums.cross - sums.n * np.outer(mean_x, mean_y)
    weights = np.linalg.solve(gram + alpha * np.eye(len(gram)), cross)
    return weights, mean_y - mean_x @ weights


def probe_scores(x: np.ndarray, labels: np.ndarray, hashes: np.ndarray, folds: int = 5,
                 alpha: float = 1.0) -> dict[str, np.ndarray]:
    """{"difficulty": (N,), "uncertainty": (N,)} of the rows `x` with `labels`."""
    x = np.asarray(x, dtype=np.float32)
    classes, targets = np.unique(np.asarray(labels).astype(str), return_inverse=True)
    difficulty, uncertainty = np.full(len(x), -1.0), np.zeros(len(x))
    if len(classes) < 2:  # one label: every row is trivially right
        return {"difficulty": difficulty, "uncertainty": uncertainty}
    fold_of = row_keys(0, hashes, DRAW) % np.uint64(folds)
    parts = [np.flatnonzero(fold_of == fold) for fold in range(folds)]
    sums = [_Sums.of(x[rows], targets[rows], len(classes)) for rows in parts]
    total = sum(sums[1:], sums[0])
    for rows, own_sums in zip(parts, sums, strict=True):
        if not len(rows) or total.n == own_sums.n:
            continue
        weights, bias = ridge_fit(total - own_sums, alpha)
        outputs = x[rows] @ weights + bias
        at = np.arange(len(rows)), targets[rows]
        own = outputs[at].copy()
        outputs[at] = -np.inf
        difficulty[rows] = outputs.max(axis=1) - own
        outputs[at] = own
        top = np.sort(outputs, axis=1)[:, -2:]
        uncertainty[rows] = 1.0 - np.minimum(top[:, 1] - top[:, 0], 1.0)
    return {"difficulty": difficulty, "uncertainty": uncertainty}
