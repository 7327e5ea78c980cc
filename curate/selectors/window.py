"""window: the best window of difficulty ranks, chosen by validation (BWS, Choi et al. 2024).

Each group's rows are ranked by `difficulty` (the cross-fitted probe's margin,
`curate.scoring.difficulty`), easiest first; the selection is the n consecutive ranks
starting at `start` (a share of the group's ranks), so every label takes the same slice of
its own ranking. Which slice trains best depends on the budget: scarce data wants easy,
typical rows and plentiful data the harder ones (Sorscher et al., 2022). With `start`
None it is chosen by validation, as BWS chooses it with a proxy model: a keyed held-out
draw of the pool's rows (at most `validation_rows`, at most a fifth of the pool) is set
aside, the windows at starts 0, `step`, 2 `step`, ... are drawn from the rest at the same
budget share, a probe (`curate.models.probe`) is trained on each and scored on the held-out
rows, and the most accurate start wins (ties: the easier). Without labels (or with one)
nothing can score a window: start 0, the easy end, and the reason says so.

References:
    Choi, Park, Yun, Jung, Kim. "BWS: Best Window Selection Based on Sample Scores for Data
    Pruning across Broad Ranges." ICML 2024. Sorscher, Geirhos, Shekhar, Ganguli, Morcos.
    "Beyond neural scaling laws: beating power law scaling via data pruning." NeurIPS 2022.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from curate.budget import Budget
from curate.exec.keys import smallest
from curate.params import Interval, constraints
from curate.selectors.base import Picks, SelectionView, Selector, label_rows
from curate.selectors.registry import register
from curate.selectors.validate import cannot_validate

DRAW = "window-validation"


def window_rows(difficulty: np.ndarray, keys: np.ndarray, n: int, start: float) -> np.ndarray:
    """Positions of the n rows at ranks [start * N, start * N + n) by difficulty, easiest
    first (ties by key), the window moved back where it would run past the hardest row."""
    order = np.lexsort((keys, difficulty))
    first = min(int(start * len(order)), len(order) - n)
    return order[first:first + n]


@register
class WindowSelector(Selector):
    """Args:
        start: where the window starts, as a share of the ranks (0: the easiest rows);
            None chooses it by validation.
        step: the spacing of the starts validation tries.
        validation_rows: at most this many held-out pool rows score the windows.
    """

    name = "window"

    parameter_constraints = constraints(
        start=[None, Interval(float, 0, 1, closed="left")],
        step=Interval(float, 0, 1, closed="right"),
        validation_rows=Interval(int, 1, None),
    )

    def __init__(self, start: float | None = None, step: float = 0.1,
                 validation_rows: int = 2000):
        self.start = start
        self.step = step
        self.validation_rows = validation_rows

    def select(self, view: SelectionView, budget: Budget, seed: int) -> pl.DataFrame:
        view = view.with_seed(seed)
        if self.start is not None:
            self.start_, self.why_ = self.start, "given"
        else:
            self.start_, self.why_ = self._validated_start(view, budget, seed)
        return super().select(view, budget, seed)

    def pick(self, view: SelectionView, n: int, rng: np.random.Generator) -> Picks:
        difficulty = view.score("difficulty")
        rows = window_rows(difficulty, view.keys("window"), n, self.start_)
        share = n / len(view)
        reason = (f"difficulty ranks {self.start_:.0%} to {self.start_ + share:.0%} of the "
                  f"group, easiest first (start {self.why_})")
        return Picks(rows=rows, scores=difficulty[rows], reasons=[reason] * n)

    def _validated_start(self, view: SelectionView, budget: Budget, seed: int
                         ) -> tuple[float, str]:
        from curate.models.probe import ProbeEvaluator

        if why_not := cannot_validate(view.labels):
            return 0.0, f"0 without validation: {why_not}"
        held = smallest(view.keys(DRAW), min(self.validation_rows, len(view) // 5))
        rest = np.setdiff1d(np.arange(len(view)), held)
        if not len(held) or not len(rest):
            return 0.0, "0 without validation: too few rows to hold any out"
        share = budget.total / len(view)
        difficulty, keys = view.score("difficulty"), view.keys("window")
        groups = (label_rows(view.labels[rest]) if self.selects_per_label(budget)
                  else {"all": np.arange(len(rest))})
        probe = ProbeEvaluator(view.embeddings, view.labels, held)
        accuracy = {}
        for start in np.arange(0.0, 1.0 - share + 1e-9, self.step).round(6):
            train = np.concatenate([
                rest[rows][window_rows(difficulty[rest[rows]], keys[rest[rows]],
                                       max(1, round(share * len(rows))), start)]
                for rows in groups.values()])
            accuracy[float(start)] = probe.score(train, seed)["accuracy"]
        best = max(accuracy, key=lambda s: (accuracy[s], -s))
        tried = ", ".join(f"{s:.0%} {a:.3f}" for s, a in accuracy.items())
        return best, (f"{best:.0%} by validation on {len(held):,} held-out rows "
                      f"(probe accuracy by start: {tried})")
