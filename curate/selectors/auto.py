"""auto: choose the selector from the regime, by one rule table backed by the benchmark.

The first rule that matches wins. Each rule names the figures behind it
(`benchmarks/selection.md`: probe on frozen MiniLM / pixel embeddings, 5 to 15 seeds).
A rule with more than one candidate runs each when the pool has labels, scores each
selection by the probe it trains on held-out pool rows (`curate.selectors.validate`), and
keeps the first candidate unless another leads it by more than `switch_margin` standard
errors; without labels it takes the first.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from curate.budget import Budget
from curate.errors import CurateError
from curate.selectors.base import SelectionView, Selector
from curate.selectors.registry import make_selector, register
from curate.selectors.sharded import Shard, ShardedPool
from curate.selectors.validate import cannot_validate, validate


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
    selectors: tuple[str, ...]  # candidates, the default first
    evidence: str

    def matches(self, regime: Regime, max_fraction: float, max_per_label: int) -> bool:
        # as resolve_budget rounds: a "10%" budget is few-shot at max_fraction 0.1
        few_shot = (regime.rows <= round(max_fraction * regime.pool_rows)
                    or (regime.per_label and regime.rows_per_group <= max_per_label))
        return {"target": regime.has_target, "quality": regime.has_quality,
                "few-shot": few_shot,
                "otherwise": True}[self.when]


RULES = (
    Rule("target", ("ot",), "GOT-D moves the selection toward the target set: on WordNet "
         "with a 3-category target, the TV distance of ot's label mix to the target's is "
         "0.25-0.26 at 1-5% against random's 0.91 (benchmarks/selection-shift.md)"),
    Rule("quality", ("kmq",), "a quality score was given: Diversify and Conquer's kMQ draws "
         "by softmax(quality) inside k-means clusters"),
    Rule("few-shot", ("kmeans-nearest", "typiclust"), "the two best shipped selectors from "
         "1% to 10% and at 1/5/10 per label on wordnet, bbc-news, chatterbot, fashion-mnist "
         "and digits, neither best everywhere: at 1 per label kmeans-nearest gains +13.0 to "
         "+21.0 points over random where typiclust gains -0.8 to +13.6; typiclust leads by "
         "up to 0.5 at some fractions (fashion-mnist 1%: +2.0 against +1.5), and validated "
         "auto gets +2.0 there; without labels to validate on, kmeans-nearest "
         "(benchmarks/selection.md)"),
    Rule("otherwise", ("random",), "above 10% of the pool and 10 rows per label no selector "
         "has been measured to beat random by much on the builtin sets (at 10% the best "
         "gains +0.7 to +2.2 points), and B-means "
         "clustering grows with B (benchmarks/selection.md)"),
)


@register
class AutoSelector(Selector):
    """Args:
        quality: a quality score (pool column or computed score); routes to kmq.
        max_fraction: the largest budget, as a fraction of the pool, that counts as few-shot.
        max_per_label: with labels, at most this many rows per label (on average) is
            few-shot whatever the fraction (10 per label of a small pool can be 12% of it).
        validate: between a rule's candidates, keep the one whose probe scores best on
            held-out pool rows (needs labels); False takes the first candidate.
        validation_rows: at most this many held-out pool rows score the candidates.
        switch_margin: another candidate replaces the first only when its probe leads by
            more than this many standard errors of the paired difference on the held-out
            rows. 1 from the builtin benchmarks (bbc-news, chatterbot, digits, 15 seeds on
            one shared split, 1% to 5% and 1/5/10 per label): 0 (the higher score) chose
            typiclust on 7-73% of the seeds where it trails by up to 0.7 points (chatterbot
            10 per label) and 2 kept kmeans-nearest where typiclust led (digits 2%: 1.0
            points short of it, against 0.7 at 1). On a split per seed, auto at 1 is within
            -0.05 to +0.6 points of kmeans-nearest in all 32 cells (benchmarks/selection.md).
    """

    name = "auto"

    def __init__(self, quality: str | None = None, max_fraction: float = 0.10,
                 max_per_label: int = 10, validate: bool = True,
                 validation_rows: int = 10_000, switch_margin: float = 1.0):
        self.quality = quality
        self.max_fraction = max_fraction
        self.max_per_label = max_per_label
        self.validate = validate
        self.validation_rows = validation_rows
        self.switch_margin = switch_margin

    def regime(self, view: SelectionView | ShardedPool, budget: Budget) -> Regime:
        per_label = budget.per_label is not None
        groups = len(budget.per_label) if per_label else 1
        return Regime(has_target=view.target is not None, has_quality=self.quality is not None,
                      per_label=per_label, rows_per_group=budget.total / groups,
                      rows=budget.total, pool_rows=len(view))

    def rule(self, view: SelectionView | ShardedPool, budget: Budget) -> tuple[Rule, str]:
        """The rule for this view (or sharded pool) and budget, and why (one line)."""
        regime = self.regime(view, budget)
        rule = next(r for r in RULES
                    if r.matches(regime, self.max_fraction, self.max_per_label))
        return rule, f"{rule.when}: {regime.describe()}; {rule.evidence}"

    def candidates(self, rule: Rule) -> list[Selector]:
        names = rule.selectors if self.validate else rule.selectors[:1]
        return [make_selector(name, {"quality": self.quality} if name == "kmq" else {})
                for name in names]

    def select(self, view: SelectionView, budget: Budget, seed: int) -> pl.DataFrame:
        whole = ShardedPool([Shard(view.ids, view.embeddings, view.labels,
                                   hashes=view.hashes)])
        return self._as_auto(view, whole, budget, seed,
                             lambda chosen: chosen.select(view, budget, seed))

    def select_sharded(self, pool: ShardedPool, budget: Budget, seed: int) -> pl.DataFrame:
        return self._as_auto(pool, pool, budget, seed,
                             lambda chosen: chosen.select_sharded(pool, budget, seed))

    def _as_auto(self, where, pool: ShardedPool, budget: Budget, seed: int, run
                 ) -> pl.DataFrame:
        rule, reason = self.rule(where, budget)
        candidates = self.candidates(rule)
        if len(candidates) > 1 and (why_not := cannot_validate(pool.labels())):
            candidates, reason = candidates[:1], f"{reason}; not validated: {why_not}"
        tables = {candidates[0].name: run(candidates[0])}
        for other in candidates[1:]:
            try:
                tables[other.name] = run(other)
            except CurateError as error:  # a candidate that cannot gather a huge pool
                reason = f"{reason}; {other.name} skipped ({error})"
        self.validation_ = None
        chosen = candidates[0].name
        if len(tables) > 1:
            self.validation_ = validate(pool, {name: t["id"].to_numpy()
                                               for name, t in tables.items()},
                                        seed, self.validation_rows)
            chosen = self.validation_.best(list(tables), self.switch_margin)
            reason = f"{reason}; {self.validation_.describe()}"
        self.choice_, self.reason_ = chosen, reason
        return tables[chosen].with_columns(
            selector=pl.lit(self.name),
            reason=pl.lit(f"auto chose {chosen}: ") + pl.col("reason"))
