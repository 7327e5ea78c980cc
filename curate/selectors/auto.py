"""auto: choose the selector from the regime, by one rule table backed by the benchmark.

The first rule that matches wins. Each rule names the figures behind it
(`benchmarks/selection.md`: probe on frozen MiniLM / pixel embeddings, 5 to 15 seeds).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from curate.budget import Budget
from curate.selectors.base import SelectionView, Selector
from curate.selectors.registry import make_selector, register
from curate.selectors.sharded import ShardedPool


@dataclass(frozen=True)
class Regime:
    """What auto looks at: the selection's setting, not the data's content."""

    has_target: bool
    has_quality: bool
    per_label: bool
    rows_per_group: float  # budget rows per group (label, or the whole pool)
    rows: int  # the budget
    pool_rows: int

    def describe(self) -> str:
        where = "per label" if self.per_label else "of the pool"
        return (f"{self.rows_per_group:.0f} rows {where}, "
                f"{self.rows / max(self.pool_rows, 1):.2%} of the pool")


@dataclass(frozen=True)
class Rule:
    when: str
    selector: str
    evidence: str

    def matches(self, regime: Regime, max_fraction: float, max_per_label: int) -> bool:
        # as resolve_budget rounds: a "10%" budget is few-shot at max_fraction 0.1
        few_shot = (regime.rows <= round(max_fraction * regime.pool_rows)
                    or (regime.per_label and regime.rows_per_group <= max_per_label))
        return {"target": regime.has_target, "quality": regime.has_quality,
                "few-shot": few_shot,
                "otherwise": True}[self.when]


RULES = (
    Rule("target", "ot", "GOT-D moves the selection toward the target set: on WordNet with a "
         "3-category target, the TV distance of ot's label mix to the target's is 0.25-0.26 "
         "at 1-5% against random's 0.91 (benchmarks/selection-shift.md)"),
    Rule("quality", "kmq", "a quality score was given: Diversify and Conquer's kMQ draws by "
         "softmax(quality) inside k-means clusters"),
    Rule("few-shot", "kmeans-nearest", "the row nearest each of B k-means centroids, inside "
         "each label, is the best or within 1 point of the best shipped selector from 1% to "
         "10% and at 1/5/10 per label on wordnet, bbc-news, chatterbot, fashion-mnist and "
         "digits but digits 2% (typiclust +1.5 +- 1.0 ahead, paired); at 1 per label it gains "
         "+14 to +25 points over random where typiclust gains 0 to +16 "
         "(benchmarks/selection.md)"),
    Rule("otherwise", "random", "above 10% of the pool and 10 rows per label no selector "
         "has been measured to beat random by much on the builtin sets (at 10% the best "
         "gains +0.4 to +2.8 points), and B-means "
         "clustering grows with B (benchmarks/selection.md)"),
)


@register
class AutoSelector(Selector):
    """Args:
        quality: a quality score (pool column or computed score); routes to kmq.
        max_fraction: the largest budget, as a fraction of the pool, that counts as few-shot.
        max_per_label: with labels, at most this many rows per label (on average) is
            few-shot whatever the fraction (10 per label of a small pool can be 12% of it).
    """

    name = "auto"

    def __init__(self, quality: str | None = None, max_fraction: float = 0.10,
                 max_per_label: int = 10):
        self.quality = quality
        self.max_fraction = max_fraction
        self.max_per_label = max_per_label

    def regime(self, view: SelectionView | ShardedPool, budget: Budget) -> Regime:
        per_label = budget.per_label is not None
        groups = len(budget.per_label) if per_label else 1
        return Regime(has_target=view.target is not None, has_quality=self.quality is not None,
                      per_label=per_label, rows_per_group=budget.total / groups,
                      rows=budget.total, pool_rows=len(view))

    def choose(self, view: SelectionView | ShardedPool, budget: Budget
               ) -> tuple[Selector, str]:
        """The selector for this view (or sharded pool) and budget, and why (one line)."""
        regime = self.regime(view, budget)
        rule = next(r for r in RULES
                    if r.matches(regime, self.max_fraction, self.max_per_label))
        params = {"quality": self.quality} if rule.selector == "kmq" else {}
        reason = f"{rule.when}: {regime.describe()}; {rule.evidence}"
        return make_selector(rule.selector, params), reason

    def select(self, view: SelectionView, budget: Budget, seed: int) -> pl.DataFrame:
        return self._as_auto(view, budget, lambda chosen: chosen.select(view, budget, seed))

    def select_sharded(self, pool: ShardedPool, budget: Budget, seed: int) -> pl.DataFrame:
        return self._as_auto(pool, budget,
                             lambda chosen: chosen.select_sharded(pool, budget, seed))

    def _as_auto(self, where, budget: Budget, run) -> pl.DataFrame:
        chosen, reason = self.choose(where, budget)
        self.choice_, self.reason_ = chosen.name, reason
        table = run(chosen)
        return table.with_columns(
            selector=pl.lit(self.name),
            reason=pl.lit(f"auto chose {chosen.name}: ") + pl.col("reason"))
