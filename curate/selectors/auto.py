"""auto: choose the selector from the regime, by one rule table backed by the benchmark.

The first rule that matches wins. A rule is an id (named in every reason), a predicate over
the regime and a link to the section of `benchmarks/*.md` whose measurements back it: the
figures live there, not here. A rule with more than one candidate runs each when the
pool has labels, scores each selection by the probe it trains on held-out pool rows
(`curate.selectors.validate`), and keeps the first candidate unless another leads it by
more than `switch_margin` standard errors; without labels it takes the first.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import polars as pl

from curate.budget import Budget
from curate.errors import CurateError
from curate.exec.keys import row_keys
from curate.exec.shards import ShardedPool
from curate.index import kmeans_clusterer
from curate.params import Boolean, Interval, Text, constraints
from curate.scoring import COMPUTED_SCORES
from curate.selectors.base import SelectionView, Selector, one_shard
from curate.selectors.registry import make_selector, register
from curate.selectors.validate import (
    DRAW,
    can_fit_probes,
    cannot_validate,
    share_of,
    validate,
    validation_draw,
)


@dataclass(frozen=True)
class Regime:
    """What auto looks at: the selection's setting, not the data's content."""

    has_target: bool
    has_quality: bool
    per_label: bool
    rows_per_group: float  # budget rows per group (label, or the whole pool)
    rows: int  # the budget
    pool_rows: int
    few_shot: bool  # within auto's max_fraction, or its max_per_label with labels
    labelled: bool  # the pool has labels (what validation scores on)
    instruction: bool = False  # prompt/response rows (an instruction-tuning pool)
    labels: int = 0  # a per-label budget's labels, those it gives no row included
    empty_labels: int = 0  # labels a stratified budget gives no row (fewer rows than labels)

    def describe(self) -> str:
        if self.per_label:  # over every label, the empty ones too: what each label gets
            per = self.rows / max(self.labels, 1)
            count = f"{per:.0f}" if per >= 10 or per == round(per) else f"{per:.1f}"
            where = f"{count} rows per label" + (
                f" ({self.empty_labels} of {self.labels} labels get no row)"
                if self.empty_labels else "")
        else:
            where = f"{self.rows_per_group:.0f} rows of the pool"
        return (f"{where}, "
                f"{self.rows / max(self.pool_rows, 1):.2%} of the pool, "
                f"{'labelled' if self.labelled else 'unlabelled'}"
                f"{', prompt/response rows' if self.instruction else ''}")


@dataclass(frozen=True)
class Rule:
    """One row of auto's table: `id` names it in reasons, `when` decides it from the
    regime, `selectors` are its candidates (the default first), `evidence` links the
    benchmark section behind it (`benchmarks/<page>.md#<heading anchor>`) and `thin` its
    candidates where a budget per label gives the labels under two rows each."""

    id: str
    when: Callable[[Regime], bool]
    selectors: tuple[str, ...]
    evidence: str
    # the candidates (the default first) where a budget per label gives its labels under
    # two rows each, every label a row: the candidates then cover the same labels, so
    # validation compares their rows (unset: the rule's first candidate alone)
    thin: tuple[str, ...] = ()
    # candidates select the budget's share of the pool without the validation draw, so
    # each is scored on rows it could have picked, and the kept one selects again from the
    # whole pool: at large budgets the rows no candidate picked are those the candidates
    # passed over, which favours the one that picked like them (random)
    apart: bool = False


RULES = (
    # a target set: GOT-D moves the selection's distribution toward it
    Rule("target-set", lambda regime: regime.has_target, ("ot",),
         "benchmarks/selection-shift.md#distribution-shift-toward-a-target-got-d-ot"),
    # a quality score: kMQ (Diversify and Conquer) draws by softmax(quality) inside k-means
    # clusters; the builtin benchmark has no quality score, so this rule is by design
    Rule("quality-score", lambda regime: regime.has_quality, ("kmq",),
         "benchmarks/selection.md#autos-quality-score-rule"),
    # prompt/response rows for an LM fine-tune (the select stage and the bench leave a
    # classifier hand-off or a probe evaluator out): no shipped selector beat random on held-out
    # response loss there, so random, and the reason says so; the classifier rules below
    # were measured with a probe, which says nothing about an LM's loss
    Rule("instruction-pool", lambda regime: regime.instruction, ("random",),
         "benchmarks/selection-sft.md#what-it-says"),
    # few-shot: the two best unsupervised selectors, the bilevel coreset,
    # kmeans-nearest's picks moved to the rows that label the pool best (prototypes) and
    # MaxHerding's kernel coverage (it led the others on pixels at tens of rows per
    # label); none best everywhere, so with labels validation chooses (on rows the
    # label-fitting candidates leave out); below two rows per label prototypes unless the
    # bilevel coreset leads it (the unsupervised ones trailed it there); without labels,
    # kmeans-nearest
    Rule("few-shot", lambda regime: regime.few_shot,
         ("kmeans-nearest", "typiclust", "bilevel", "prototypes", "maxherding"),
         "benchmarks/selection-fewshot.md#what-it-says", thin=("prototypes", "bilevel")),
    # above few-shot with labels: UHerding (coverage weighted by the cross-fitted probe's
    # uncertainty, blended by the budget share), MaxHerding (kernel coverage) and the
    # bilevel coreset each led random on some sets and trailed it or were level on others,
    # so validation chooses, and random stays unless one leads it
    Rule("large-labelled", lambda regime: regime.labelled,
         ("random", "uherding", "maxherding", "bilevel"),
         "benchmarks/selection-range.md#what-it-says", apart=True),
    # above few-shot without labels nothing was measured to beat random, and B-means
    # clustering grows with B
    Rule("large-budget", lambda regime: True, ("random",),
         "benchmarks/selection.md#what-it-says"),
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
        max_work: a candidate other than the rule's first whose own estimate of its work
            (`Selector.work`, multiply-adds) is above this is left out, and the reason says
            so: the bilevel coreset's greedy grows with budget x pool.
        switch_margin: another candidate replaces the first only when its probe leads by
            more than this many standard errors of the paired difference on the held-out
            rows. 1 from the builtin benchmarks: 0 switched to typiclust on seeds where it
            trails, 2 kept kmeans-nearest where typiclust led, and at 1 auto stays level
            with or ahead of kmeans-nearest (benchmarks/selection.md, "What it says":
            "Validation is safe" and "Why validate rather than rule").
    """

    name = "auto"

    parameter_constraints = constraints(
        quality=[None, Text()],
        max_fraction=Interval(float, 0, 1),
        max_per_label=Interval(int, 0, None),
        validate=Boolean(),
        validation_rows=Interval(int, 1, None),
        switch_margin=Interval(float, 0, None),
        max_work=Interval(float, 0, None),
    )

    def __init__(self, quality: str | None = None, max_fraction: float = 0.10,
                 max_per_label: int = 10, validate: bool = True,
                 validation_rows: int = 10_000, switch_margin: float = 1.0,
                 max_work: float = 3e11):
        self.quality = quality
        self.max_fraction = max_fraction
        self.max_per_label = max_per_label
        self.validate = validate
        self.validation_rows = validation_rows
        self.switch_margin = switch_margin
        self.max_work = max_work

    def regime(self, view: SelectionView | ShardedPool, budget: Budget) -> Regime:
        per_label = budget.per_label is not None
        groups = len(budget.per_label) if per_label else 1
        rows_per_group = budget.total / groups
        # as resolve_budget rounds: a "10%" budget is few-shot at max_fraction 0.1
        few_shot = (budget.total <= round(self.max_fraction * len(view))
                    or (per_label and rows_per_group <= self.max_per_label))
        labels = view.labels() if isinstance(view, ShardedPool) else view.labels
        return Regime(has_target=view.target is not None, has_quality=self.quality is not None,
                      per_label=per_label, rows_per_group=rows_per_group,
                      rows=budget.total, pool_rows=len(view), few_shot=few_shot,
                      labelled=labels is not None, instruction=view.instruction,
                      labels=groups + len(budget.empty_labels),
                      empty_labels=len(budget.empty_labels))

    def rule(self, view: SelectionView | ShardedPool, budget: Budget) -> tuple[Rule, Regime]:
        """The first rule that matches this view (or sharded pool) and budget, and the
        regime it matched."""
        regime = self.regime(view, budget)
        return next(rule for rule in RULES if rule.when(regime)), regime

    def candidates(self, names: tuple[str, ...]) -> list[Selector]:
        return [make_selector(name, {"quality": self.quality} if name == "kmq" else {})
                for name in (names if self.validate else names[:1])]

    def choice(self) -> dict | None:
        return {"selector": self.choice_, "reason": self.reason_}

    def select(self, view: SelectionView, budget: Budget, seed: int) -> pl.DataFrame:
        held = self._held_out(view, seed)

        @functools.cache
        def apart() -> tuple[SelectionView, Budget]:
            keep = ~self._draw(view.hashes, seed)
            return view.alone(np.flatnonzero(keep)), share_of(budget, view.labels, keep)

        return self._as_auto(held, one_shard(held), budget, seed,
                             lambda chosen: chosen.select(held, budget, seed),
                             lambda chosen: chosen.select(*apart(), seed),
                             lambda chosen: chosen.select(view, budget, seed))

    def select_sharded(self, pool: ShardedPool, budget: Budget, seed: int) -> pl.DataFrame:
        """As `select`: the label-fitting candidates have no plan and gather the rows (the
        first time one runs), with the same held-out rows; the others run on the shards."""
        @functools.cache
        def gather() -> SelectionView:
            return pool.gather(self.name, partial(SelectionView,
                                                  cluster_fn=kmeans_clusterer(pool.cluster)))

        def run(chosen: Selector) -> pl.DataFrame:
            if chosen.fits_labels:
                return chosen.select(self._held_out(gather(), seed), budget, seed)
            return chosen.select_sharded(pool, budget, seed)

        @functools.cache
        def apart() -> tuple[ShardedPool, Budget]:
            held = self._draw(pool.hashes(), seed)
            given = [name for name in (pool.shards[0].columns if pool.shards else {})
                     if name not in COMPUTED_SCORES]
            return pool.without(held, given), share_of(budget, pool.labels(), ~held)

        def refit(chosen: Selector) -> pl.DataFrame:
            if chosen.fits_labels:
                return chosen.select(gather(), budget, seed)
            return chosen.select_sharded(pool, budget, seed)

        return self._as_auto(pool, pool, budget, seed, run,
                             lambda chosen: chosen.select_sharded(*apart(), seed), refit)

    def _held_out(self, view: SelectionView, seed: int) -> SelectionView:
        """`view` with the rows validation will score on marked (`holdout`), for the
        label-fitting candidates to leave out of their fit; unmarked where none is run."""
        if not self.validate or cannot_validate(view.labels):
            return view
        return replace(view, holdout=self._draw(view.hashes, seed))

    def _draw(self, hashes: np.ndarray, seed: int) -> np.ndarray:
        """(N,) bool: the rows validation scores on, by their id hashes (`validate` draws
        the same ones)."""
        return validation_draw(row_keys(seed, hashes, DRAW), self.validation_rows)

    def _candidates_for(self, rule: Rule, regime: Regime, labels, budget: Budget
                        ) -> tuple[list[Selector], str]:
        """The candidates to run for this rule and regime, and why not validated (or the
        rule's only candidate)."""
        thin = labels is not None and not can_fit_probes(budget)
        names = rule.thin if thin and rule.thin and not regime.empty_labels else rule.selectors
        candidates = self.candidates(names)
        outcome = ("the rule's only candidate" if len(names) == 1
                   else "not validated: validation is off")
        if regime.empty_labels:  # labels without a row: label-fitting candidates fell
            # below kmeans-nearest there (benchmarks/selection-fewshot.md#what-it-says)
            candidates = [c for c in candidates if not c.fits_labels] or candidates
            if thin:
                return candidates[:1], ("not validated: fewer than 2 rows per label to "
                                        "fit the probe on")
        if len(candidates) > 1 and (why_not := cannot_validate(labels)):
            return candidates[:1], f"not validated: {why_not}"
        if labels is None and len(rule.selectors) > 1:
            outcome = "not validated: the pool has no labels"
        return candidates, outcome

    def _run_candidates(self, candidates: list[Selector], pool: ShardedPool, budget: Budget,
                        run) -> tuple[dict[str, pl.DataFrame], dict[str, str]]:
        """Each candidate's selection by `run`, and why any was left out: past `max_work`
        (never the rule's first), or one without a sharded plan that cannot gather the
        pool."""
        tables, skipped = {}, {}
        labels = pool.labels()
        label_count = 0 if labels is None else len(np.unique(labels))
        for candidate in candidates:
            work = candidate.work(len(pool), budget.total, pool.dim, label_count)
            if candidate is not candidates[0] and work > self.max_work:
                skipped[candidate.name] = (f"{candidate.name} skipped (about {work:.1e} "
                                           f"multiply-adds, over max_work)")
                continue
            try:
                tables[candidate.name] = run(candidate)
            except CurateError as error:  # one without a plan that cannot gather a
                if candidate.has_plan(pool):  # huge pool; the rule's first has a plan
                    raise
                skipped[candidate.name] = f"{candidate.name} skipped ({error})"
        return tables, skipped

    def _as_auto(self, where, pool: ShardedPool, budget: Budget, seed: int, run, run_apart,
                 refit) -> pl.DataFrame:
        """Run the rule's candidates (by `run_apart` under a rule that validates them
        `apart`, else `run`) and keep one; a kept candidate that fits the pool's labels, or
        that selected apart, runs again by `refit`, on every row (validation chose the
        method; the selection then fits the rows validation scored on too). `reason_` (the
        choice a run records): the rule's id and evidence link, the regime and the
        validation; each row's reason: the choice, the rule's id, the regime and whether it
        was validated, then the chosen selector's own reason. Neither quotes a benchmark
        figure."""
        rule, regime = self.rule(where, budget)
        candidates, outcome = self._candidates_for(rule, regime, pool.labels(), budget)
        apart = rule.apart and len(candidates) > 1
        run = run_apart if apart else run
        tables, skipped = self._run_candidates(candidates, pool, budget, run)
        if not tables:  # the rule's first candidate has a plan over the shards
            candidates = [make_selector(rule.selectors[0])]
            tables = {candidates[0].name: run(candidates[0])}
        if skipped and len(tables) == 1:
            outcome = f"not validated: {', '.join(skipped)} skipped"
        self.validation_ = None
        chosen, detail = next(iter(tables)), outcome
        if len(tables) > 1:
            self.validation_ = validate(pool, {name: t["id"].to_numpy()
                                               for name, t in tables.items()},
                                        seed, self.validation_rows)
            chosen = self.validation_.best(list(tables), self.switch_margin)
            detail = self.validation_.describe()
            outcome = (f"validated between {' and '.join(tables)}"
                       if self.validation_.held_out else detail)
        self.choice_ = chosen
        self.reason_ = "; ".join([f"rule {rule.id} ({rule.evidence}): {regime.describe()}",
                                  detail, *skipped.values()])
        table = tables[chosen]
        kept = next(c for c in candidates if c.name == chosen)
        if apart or (kept.fits_labels and len(candidates) > 1):
            table = refit(kept)
        return table.with_columns(
            selector=pl.lit(self.name),
            reason=pl.lit(f"auto chose {chosen} by rule {rule.id} ({regime.describe()}; "
                          f"{outcome}): ") + pl.col("reason"))
