"""The benchmark protocol: split, select per (selector, budget, seed), evaluate, record.

The test part is held out before selection and is never selectable. Each seed draws its
own split (`bench.resplit`): with one split for every seed, a selector that happens to
suit that test part leads on every seed, and the interval over seeds cannot show it
(dealrec's lead at chatterbot 10 per label on one split, gone on three others:
benchmarks/selection.md, "Why a split per seed"). Every selector of a seed shares its split, so the
differences to random stay paired. Embeddings come from the run cache and are computed
once per dataset; the k-means clusterings of each train part are cached too.

A bench seed is a run: the dataset goes through the run's load, dedup (`dedup:`, before the
split, so no test row repeats a train row) and embed stages, and the train part keeps the
pool's ids, from which every keyed draw comes. `curate select` on a split's train rows
with the same seed, budget and selector picks the same rows the bench scores.
"""

from __future__ import annotations

import functools
import time
import warnings
from dataclasses import dataclass

import numpy as np
import polars as pl

from curate.bench.evaluators import ProbeEvaluator
from curate.bench.finetune import FinetuneEvaluator
from curate.bench.lora import LoraEvaluator
from curate.bench.specs import make_selectors
from curate.bench.synth import Augmenter
from curate.bench.target import TargetMetrics, target_label_split
from curate.budget import Budget, resolve_budget
from curate.config import Config
from curate.data import Pool
from curate.errors import CurateError
from curate.index import kmeans_clusterer
from curate.progress import progress_bar
from curate.scoring.lm_scores import lm_scores_named
from curate.selectors import SelectionView
from curate.stages import (
    dedup_stage,
    embed_stage,
    load_stage,
    target_embeddings,
)
from curate.stages.scores import pool_scores
from curate.store import ArtifactCache

RESULT_SCHEMA = {"dataset": pl.Utf8, "selector": pl.Utf8, "budget": pl.Utf8, "rows": pl.Int64,
                 "seed": pl.Int64, "metric": pl.Utf8, "value": pl.Float64,
                 "seconds": pl.Float64, "error": pl.Utf8, "choice": pl.Utf8}


def stratified_split(labels: np.ndarray | None, n: int, test_size: float, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train rows, test rows); stratified by label, singleton labels stay in train."""
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if labels is None else [np.flatnonzero(labels == v)
                                                    for v in np.unique(labels)]
    test = []
    for rows in groups:
        k = round(len(rows) * test_size) if len(rows) > 1 else 0
        test.append(rng.choice(rows, size=min(k, len(rows) - 1), replace=False))
    test = np.sort(np.concatenate(test)).astype(np.int64)
    return np.setdiff1d(np.arange(n), test), test


@dataclass
class Workload:
    """One dataset prepared for benchmarking."""

    name: str
    view: SelectionView  # the train part only
    train_rows: np.ndarray  # pool positions of the view's rows
    evaluator: ProbeEvaluator | LoraEvaluator | FinetuneEvaluator
    split_seed: int
    target_metrics: TargetMetrics | None = None  # with a target set: distances to it
    pool: Pool | None = None  # the rows themselves, for generators (bench.synth)

    def pool_rows(self, ids) -> np.ndarray:
        """Pool positions of the view's rows with these ids (a selection's)."""
        ids = np.asarray(ids, dtype=str)
        order = self._id_order
        at = order[np.searchsorted(self.view.ids, ids, sorter=order).clip(0, len(order) - 1)]
        if not np.array_equal(self.view.ids[at], ids):
            raise RuntimeError("a selection holds ids that are not in the train part")
        return self.train_rows[at]

    @functools.cached_property
    def _id_order(self) -> np.ndarray:
        return np.argsort(self.view.ids, kind="stable")

    def score(self, pool_rows: np.ndarray, seed: int) -> dict[str, float]:
        # A budget under two rows per label fits the probe on mostly one row per label,
        # and scikit-learn warns, per fit, that such a target may be a regression one. The
        # labels are classes by construction and the budget is the experiment asked for;
        # what it leaves out, the budget's warning said once (`resolve_budgets`).
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The number of unique classes is greater",
                                    UserWarning)
            scores = self.evaluator.score(pool_rows, seed)
        return scores | (self.target_metrics(pool_rows) if self.target_metrics else {})


def split_seeds(bench) -> dict[int, int]:
    """Each seed's train/test split seed: its own with `bench.resplit`, else split_seed."""
    seeds = range(bench.first_seed, bench.first_seed + bench.seeds)
    return {seed: bench.split_seed + seed if bench.resplit else bench.split_seed
            for seed in seeds}


@dataclass
class Loaded:
    """What every split of one dataset shares: its rows and vectors, loaded once (a
    `refresh` recomputes the stages once, not once per split)."""

    origin: str
    embeddings_key: str
    pool: Pool
    x: np.ndarray  # the selection's embeddings
    probe_x: np.ndarray | None  # the probe's (bench.probe_embed), with the probe evaluator
    target_x: np.ndarray | None  # a target set's embeddings (target:)
    scores: dict[str, np.ndarray]  # score columns as a run's select stage gathers them


def load(cfg: Config, cache: ArtifactCache, refresh: bool = False) -> Loaded:
    bench = cfg.bench
    pool_ref = dedup_stage(load_stage(cfg, cache, refresh), cfg, cache, refresh)
    embeddings_ref = embed_stage(pool_ref, cfg, cache, refresh)
    x = embeddings_ref.load()
    probe_x = None
    if bench.evaluator == "probe":
        probe_x = x if bench.probe_embed is None else embed_stage(
            pool_ref, cfg.model_copy(update={"embed": bench.probe_embed}), cache, refresh).load()
    target_x = (target_embeddings(cfg, cache, refresh)
                if cfg.target is not None and not bench.target_labels else None)
    pool = pool_ref.load()
    # The scores a run would see (numeric columns, LM effort, LM scores): bench = run; the
    # LM scores any selector of the grid names are computed for all of them.
    if any(lm_scores_named(s.get_params()) for s in make_selectors(bench.selectors).values()):
        cfg = cfg.model_copy(update={"scoring": cfg.scoring.model_copy(
            update={"lm_scores": True})})
    scores = pool_scores(pool, embeddings_ref, cfg, cache, refresh).columns
    return Loaded(pool_ref.origin, embeddings_ref.key, pool, x, probe_x, target_x, scores)


def prepare(cfg: Config, cache: ArtifactCache, refresh: bool = False,
            split_seed: int | None = None, loaded: Loaded | None = None) -> Workload:
    """The workload of one train/test split (`split_seed`; unset: bench.split_seed) of the
    dataset (`loaded`; unset: loaded here)."""
    bench = cfg.bench
    split_seed = bench.split_seed if split_seed is None else split_seed
    loaded = loaded or load(cfg, cache, refresh)
    pool, x = loaded.pool, loaded.x
    labels = pool.labels()
    train, test = stratified_split(labels, len(pool), bench.test_size, split_seed)
    train_key = f"{loaded.embeddings_key}:train:{bench.test_size}:{split_seed}"
    target_metrics = None
    if bench.target_labels:
        if labels is None:
            raise CurateError("--target-labels needs a label column", "set data.label_column")
        target_rows, train, test = target_label_split(labels, train, test, bench.target_labels,
                                                      bench.target_size, split_seed)
        train_key += f":target:{sorted(bench.target_labels)}:{bench.target_size}"
        target_metrics = TargetMetrics(x, x[target_rows], labels, labels[target_rows])
    elif loaded.target_x is not None:
        target_metrics = TargetMetrics(x, loaded.target_x)
    if bench.evaluator == "probe":
        evaluator = ProbeEvaluator(loaded.probe_x, labels, test, tuned_cs=tuple(bench.probe_cs))
    elif bench.evaluator == "finetune":
        evaluator = FinetuneEvaluator(pool, test, bench.finetune)
    else:
        evaluator = LoraEvaluator(pool, test, bench.lora, cache, bench.generate_rows)

    view = SelectionView(ids=pool.ids[train], embeddings=x[train],
                         labels=None if labels is None else labels[train],
                         scores={k: v[train] for k, v in loaded.scores.items()},
                         cluster_fn=kmeans_clusterer(cfg.cluster, cache, train_key),
                         target=None if target_metrics is None else target_metrics.target,
                         # an LM fine-tune only when the lora evaluator scores it
                         instruction=pool.schema.instruction and bench.evaluator == "lora")
    return Workload(loaded.origin, view, train, evaluator, split_seed, target_metrics, pool)


def resolve_budgets(workload: Workload, specs: list, stratify: bool | str = "auto",
                    allow_smaller: bool = False, warn: bool = True) -> dict[str, Budget]:
    """Every budget resolved on the train part before any work, by `curate select`'s rule
    (`resolve_budget`): bad budgets fail early, and labels left without a row are a
    warning (`warn`), as they are for select. The same (stratified or not) budget goes to
    every selector, random included."""
    return {str(spec): resolve_budget(spec, len(workload.view), workload.view.labels,
                                      allow_smaller, stratify, warn) for spec in specs}


def _rows(dataset, selector, budget, n, seed, metrics, seconds, error=None, choice=None
          ) -> list[dict]:
    """Result rows; `choice`: what a choosing selector (auto) chose for this seed."""
    return [{"dataset": dataset, "selector": selector, "budget": budget, "rows": n,
             "seed": seed, "metric": metric, "value": value, "seconds": seconds, "error": error,
             "choice": choice} for metric, value in metrics.items()]


def run_benchmark(cfg: Config, cache: ArtifactCache, refresh: bool = False) -> pl.DataFrame:
    """All (selector, budget, seed) runs plus, with `bench.ceiling`, a probe on all train
    rows of each split (`full`: no ceiling when labels are uneven and the budget per label
    evens them), as a results table.

    A run that fails is recorded with its error (value NaN) and the others go on.
    """
    bench = cfg.bench
    selectors = make_selectors(bench.selectors)
    seeds_of_split: dict[int, list[int]] = {}
    for seed, split in split_seeds(bench).items():
        seeds_of_split.setdefault(split, []).append(seed)
    loaded = load(cfg, cache, refresh)
    records = []
    metric_names = []  # from the ceiling, else from the first run that succeeds
    total = len(selectors) * len(bench.budgets) * bench.seeds
    with progress_bar(f"bench {loaded.origin}", total=total, unit="runs") as advance:
        for split, seeds in seeds_of_split.items():
            workload = prepare(cfg, cache, split_seed=split, loaded=loaded)
            budgets = resolve_budgets(workload, bench.budgets, cfg.select.stratify,
                                      cfg.select.allow_smaller,
                                      warn=split == next(iter(seeds_of_split)))  # once
            augmenter = (Augmenter(cfg, cache, workload.pool, workload.evaluator)
                         if bench.synth else None)
            if bench.ceiling:
                started = time.perf_counter()
                full = workload.score(workload.train_rows, split)
                metric_names = metric_names or list(full)
                records += _rows(workload.name, "full", "all", len(workload.train_rows),
                                 seeds[0] if bench.resplit else split, full,
                                 time.perf_counter() - started)
            for seed, (name, selector), (spec, budget) in (
                    (seed, s, b) for seed in seeds for s in selectors.items()
                    for b in budgets.items()):
                rows, metrics = _run(workload, augmenter, name, selector, spec, budget, seed,
                                     metric_names)
                records += rows
                metric_names = metric_names or metrics
                advance(1)
    return pl.DataFrame(records, schema=RESULT_SCHEMA)


def _run(workload: Workload, augmenter: Augmenter | None, name: str, selector, spec: str,
         budget: Budget, seed: int, metric_names: list[str]) -> tuple[list[dict], list[str]]:
    """The result rows of one selection (and its synthetic arms), and its metrics (none
    when it failed: the failure is a row too)."""
    started = time.perf_counter()
    try:
        chosen = workload.pool_rows(selector.select(workload.view, budget, seed)["id"])
        choice = (selector.choice() or {}).get("selector")
        scores = workload.score(chosen, seed)
        records = _rows(workload.name, name, spec, budget.total, seed, scores,
                        time.perf_counter() - started, choice=choice)
        for arm, n, arm_scores, seconds, error in (
                augmenter.arms(chosen, seed, metric_names or list(scores))
                if augmenter else []):
            records += _rows(workload.name, f"{name}+{arm}", spec, n, seed, arm_scores,
                             seconds, error)
        return records, list(scores)
    except Exception as err:  # a failing run is a result; the others go on
        message = f"{type(err).__name__}: {err}"
        return _rows(workload.name, name, spec, budget.total, seed,
                     dict.fromkeys(metric_names or ["error"], float("nan")),
                     time.perf_counter() - started, error=message), []
