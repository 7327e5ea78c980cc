"""Target-shift benchmarking, GOT-D's setting: select from a pool toward a small target set.

With `target_labels`, the target is a seeded sample of those labels' train rows, removed
from the selectable pool, and the test part keeps only those labels' held-out rows, so the
probe measures accuracy on the target task. Two metrics describe how close a selection is
to the target: `tv_distance` between the label distributions (needs labels) and `ot_cost`,
the regularised OT cost between selection and target embeddings (any target). Both: lower
is better.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curate.errors import CurateError
from curate.scoring.ot import SinkhornSettings, regularised_cost


def tv_distance(labels: np.ndarray, reference: np.ndarray) -> float:
    """Total-variation distance between two samples' label distributions."""
    values = np.union1d(labels, reference)
    p = np.array([np.mean(labels == v) for v in values])
    q = np.array([np.mean(reference == v) for v in values])
    return float(0.5 * np.abs(p - q).sum())


def ot_cost(selected: np.ndarray, target: np.ndarray, eps: float = 0.1) -> float:
    """Regularised OT cost (dual objective) between two embedding sets."""
    return regularised_cost(target, selected, SinkhornSettings(eps=eps))


def target_label_split(labels: np.ndarray, train: np.ndarray, test: np.ndarray,
                       target_labels: list[str], size: int, seed: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(target rows, selectable train rows, test rows of the target labels)."""
    wanted = np.asarray(target_labels, dtype=labels.dtype)
    missing = sorted(str(v) for v in set(wanted) - set(np.unique(labels)))
    if missing:
        known = ", ".join(map(str, np.unique(labels)[:10]))
        raise CurateError(f"target labels {missing} are not in the dataset",
                          f"pick labels that exist (e.g. {known})")
    candidates = train[np.isin(labels[train], wanted)]
    if len(candidates) < size:
        raise CurateError(f"--target-size {size} exceeds the {len(candidates)} train rows "
                          f"with labels {list(wanted)}", "lower --target-size")
    rng = np.random.default_rng(seed)
    target = np.sort(rng.choice(candidates, size, replace=False))
    return target, np.setdiff1d(train, target), test[np.isin(labels[test], wanted)]


@dataclass
class TargetMetrics:
    """Scores a selection (pool positions) against the target set."""

    embeddings: np.ndarray  # the whole pool's
    target: np.ndarray  # (M, d) target embeddings
    labels: np.ndarray | None = None  # the whole pool's, with target_labels below
    target_labels: np.ndarray | None = None

    def __call__(self, rows: np.ndarray) -> dict[str, float]:
        metrics = {"ot_cost": ot_cost(self.embeddings[rows], self.target)}
        if self.labels is not None and self.target_labels is not None:
            metrics["tv_distance"] = tv_distance(self.labels[rows], self.target_labels)
        return metrics
