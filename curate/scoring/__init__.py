"""Scores for selection: influence and effort from a surrogate (DEALRec)."""

from __future__ import annotations

import numpy as np

from curate.scoring.effort import surrogate_effort
from curate.scoring.influence import LissaSettings, influence_scores
from curate.scoring.surrogate import SurrogateSettings, encode_labels, train_surrogate

SURROGATE_SCORES = ("influence", "effort")


def surrogate_scores(x: np.ndarray, labels: np.ndarray,
                     surrogate: SurrogateSettings | None = None,
                     lissa: LissaSettings | None = None) -> dict[str, np.ndarray]:
    """Train the surrogate on every row, then influence (last-layer weight) and effort."""
    classes, targets = encode_labels(labels)
    model = train_surrogate(x, targets, len(classes), surrogate or SurrogateSettings())
    return {"influence": influence_scores(model, x, targets, lissa or LissaSettings()),
            "effort": surrogate_effort(model, x, targets)}
