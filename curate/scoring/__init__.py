"""Scores for selection: influence and effort from a surrogate (DEALRec), difficulty and
uncertainty from a cross-fitted probe."""

from __future__ import annotations

import numpy as np

from curate.scoring.difficulty import PROBE_SCORES, probe_scores
from curate.scoring.effort import surrogate_effort
from curate.scoring.influence import LissaSettings, influence_scores
from curate.scoring.surrogate import SurrogateSettings, encode_labels, train_surrogate

SURROGATE_SCORES = ("influence", "effort")
# scores a selection view computes from its embeddings and labels when a selector reads them
COMPUTED_SCORES = SURROGATE_SCORES + PROBE_SCORES


def surrogate_scores(x: np.ndarray, labels: np.ndarray,
                     surrogate: SurrogateSettings | None = None,
                     lissa: LissaSettings | None = None) -> dict[str, np.ndarray]:
    """Train the surrogate on every row, then influence (last-layer weight) and effort."""
    classes, targets = encode_labels(labels)
    model = train_surrogate(x, targets, len(classes), surrogate or SurrogateSettings())
    return {"influence": influence_scores(model, x, targets, lissa or LissaSettings()),
            "effort": surrogate_effort(model, x, targets)}


def computed_scores(name: str, x: np.ndarray, labels: np.ndarray, hashes: np.ndarray
                    ) -> dict[str, np.ndarray]:
    """The score `name` (one of COMPUTED_SCORES) and those computed with it."""
    if name in PROBE_SCORES:
        return probe_scores(x, labels, hashes)
    return surrogate_scores(x, labels)
