"""Longest-k: the rows with the longest responses, the length baseline of instruction tuning.

Selecting the longest responses is a strong baseline for instruction-tuning data that any
score-based selector should be compared with (Zhao et al. 2024, "Long Is More for
Alignment"). The length is `response_tokens`, which the select stage computes for
prompt/response pools with `scoring.lm_model` (`curate.scoring.lm_scores`); any numeric
pool column (a character count) can stand in. Equal lengths go by keyed order (seed, row
id), so the picks depend on the set of rows, not on their order.

References:
    Zhao, Andriushchenko, Croce, Flammarion. "Long Is More for Alignment: A Simple but
    Tough-to-Beat Baseline for Instruction Fine-Tuning." ICML 2024.
"""

from __future__ import annotations

import numpy as np

from curate.errors import CurateError
from curate.params import Text, constraints
from curate.selectors.base import Picks, SelectionView, Selector
from curate.selectors.registry import register


def rank_descending(values: np.ndarray, keys: np.ndarray,
                    last: np.ndarray | None = None) -> np.ndarray:
    """Row positions by descending value, missing values (NaN) last, ties by ascending key;
    rows marked in `last` come after all others (ranked the same way among themselves)."""
    values = np.asarray(values, dtype=np.float64)
    columns = [keys, np.where(np.isnan(values), np.inf, -values)]
    return np.lexsort(columns if last is None else [*columns, np.asarray(last, dtype=bool)])


def required_score(view: SelectionView, name: str, owner: str, param: str) -> np.ndarray:
    """The view's score `name` as floats, or a one-line CurateError naming the fix."""
    from curate.scoring.lm_scores import LM_SCORES

    try:
        return np.asarray(view.score(name), dtype=np.float64)
    except KeyError:
        origin = ("the select stage computes it for pools with data.prompt_column and "
                  "data.response_column" if name in LM_SCORES else "no stage computes it")
        raise CurateError(f"{owner} reads the score '{name}', which this pool lacks ({origin})",
                          f"set select.params.{param} to a score the pool has (present: "
                          f"{', '.join(view.scores) or 'none'})") from None


@register
class LongestSelector(Selector):
    """The `n` rows with the largest `score`, ties by keyed order.

    Args:
        score: the length: `response_tokens` (the response's length in the LM's tokens), or
            any numeric pool column.
    """

    name = "longest"

    parameter_constraints = constraints(score=Text())

    def __init__(self, score: str = "response_tokens"):
        self.score = score

    def pick(self, view: SelectionView, n: int, rng: np.random.Generator) -> Picks:
        length = required_score(view, self.score, f"selector '{self.name}'", "score")
        rows = rank_descending(length, view.keys("longest"))[:n]
        return Picks(rows=rows, scores=length[rows],
                     reasons=[f"longest by {self.score}: rank {i + 1}" for i in range(n)])
