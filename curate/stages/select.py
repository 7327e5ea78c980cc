"""The select stage: resolve the budget, gather the scores, build the selector's view of the
pool (in memory, or as shards for an executor) and run the selector."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from curate.budget import Budget, resolve_budget
from curate.config import Config
from curate.data import Pool
from curate.embed import EmbeddingsRef, check_finite
from curate.exec import Executor, make_executor
from curate.exec.shards import Shard, ShardedPool, split_rows
from curate.index import ClustersRef, cache_params, kmeans_clusterer
from curate.selectors import SelectionView, make_selector
from curate.selectors.base import Selector
from curate.selectors.registry import code_fingerprint
from curate.stages.pool import PoolRef, target_embeddings
from curate.stages.scores import PoolScores, pool_scores, save_computed
from curate.store import ArtifactCache, StageRef, atomic_path, cached_stage

# Bumped only when curate's own selectors can pick other ids (7: keyed randomness; 11:
# auto takes random on prompt/response pools; 12: auto's few-shot candidates bilevel and
# prototypes, its validated large-budget rule; 13: large-budget candidates validated apart
# from the held-out rows; 14: thin budgets validated, maxherding a large-budget candidate;
# 15: bilevel a large-budget candidate; 16: maxherding a few-shot candidate), or once when
# every row's reason changed (10: reasons name auto's rule, not its figures).
SELECT_VERSION = 16


@dataclass(frozen=True, kw_only=True)
class SelectionRef(StageRef):
    budget: dict
    rows: int
    choice: dict | None = None  # what `auto` chose, and why

    def load(self) -> pl.DataFrame:
        return pl.read_parquet(self.path)


def select_key(pool_ref: PoolRef, embeddings: EmbeddingsRef, cfg: Config,
               selector: Selector) -> dict:
    """What decides a selection. An outside selector's code is part of it (an edit
    reselects); curate's own is not. The clustering is not either: embeddings key, cluster
    settings and seed decide it, and a run on Ray has no cluster stage (the executor is
    never part of a key)."""
    code = code_fingerprint(type(selector))
    return {**({"code": code} if code else {}),
            "pool": pool_ref.fingerprint, "embeddings": embeddings.key,
            "select": cfg.select.model_dump(mode="json"), "seed": cfg.run.seed,
            "scoring": cfg.scoring.model_dump(mode="json"),
            "target": cfg.target.model_dump(mode="json") if cfg.target else None,
            "cluster": cache_params(cfg.cluster), "version": SELECT_VERSION,
            # keys of runs that hand off to an LM (or to nobody) stay as they were
            **({"handoff": "classifier"} if cfg.train.mode == "classifier" else {})}


def select_stage(pool_ref: PoolRef, embeddings: EmbeddingsRef, clusters: ClustersRef | None,
                 cfg: Config, cache: ArtifactCache, refresh: bool = False) -> SelectionRef:
    """Resolve the budget and run the configured selector -> selection.parquet.

    `clusters` is the cluster stage's whole-pool clustering, already in the cache, which the
    view's clusterer reads back (None when selection is per label or on Ray)."""
    selector = make_selector(cfg.select.selector, cfg.select.params)

    def compute(folder: Path) -> dict:
        pool = pool_ref.load(vectors=False)  # the selector reads the embedding cache
        # run.check_budget has warned about labels without a row, on every run
        budget = resolve_budget(cfg.select.budget, len(pool), pool.labels(),
                                cfg.select.allow_smaller, cfg.select.stratify, warn=False)
        scores = pool_scores(pool, embeddings, cfg, cache, refresh)
        selection, after = run_selector(selector, pool, embeddings, scores, budget, cfg,
                                        target_embeddings(cfg, cache, refresh), cache)
        check_selection(selection, budget, pool)
        with atomic_path(folder / "selection.parquet") as tmp:
            selection.write_parquet(tmp)
        save_computed(scores, after, pool.ids, folder, cache)
        return {"budget": asdict(budget), "rows": selection.height,
                "selector": cfg.select.selector, "params": selector.get_params(),
                "choice": selector.choice()}

    entry = cached_stage(cache, "select", select_key(pool_ref, embeddings, cfg, selector),
                         compute, refresh)
    meta = entry.manifest
    return SelectionRef(path=entry.folder / "selection.parquet", key=entry.key,
                        cache_hit=entry.hit, budget=meta["budget"], rows=meta["rows"],
                        choice=meta.get("choice"))


def run_selector(selector: Selector, pool: Pool, embeddings: EmbeddingsRef, scores: PoolScores,
                 budget: Budget, cfg: Config, target: np.ndarray | None,
                 cache: ArtifactCache) -> tuple[pl.DataFrame, dict[str, np.ndarray]]:
    """(the selection, every score column once the selector ran): on the whole pool in
    memory with the local executor, else over shards on the configured executor."""
    if cfg.run.executor == "local":
        vectors = embeddings.load()
        check_finite(vectors, f"embeddings of {pool.origin}", pool.ids)
        view = SelectionView(ids=pool.ids, embeddings=vectors, labels=pool.labels(),
                             scores=scores.columns,
                             cluster_fn=kmeans_clusterer(cfg.cluster, cache, embeddings.key),
                             target=target, seed=cfg.run.seed,
                             instruction=lm_pool(pool, cfg))
        return selector.select(view, budget, cfg.run.seed), view.scores
    executor = make_executor(cfg.run)
    sharded = sharded_pool(pool, embeddings, scores.columns, cfg, target, executor)
    with executor.session():
        selection = selector.select_sharded(sharded, budget, cfg.run.seed)
    gathered = sharded.gathered_  # None when the selector's plan ran on the shards
    return selection, gathered.scores if gathered is not None else scores.columns


def lm_pool(pool: Pool, cfg: Config) -> bool:
    """Whether the selection is for an LM fine-tune on prompt/response rows (auto's
    instruction-pool rule): it is, unless the hand-off trains a classifier on the labels."""
    return pool.schema.instruction and cfg.train.mode != "classifier"


def sharded_pool(pool: Pool, embeddings: EmbeddingsRef, scores: dict, cfg: Config,
                 target: np.ndarray | None, executor: Executor) -> ShardedPool:
    """The pool as shards of embed.shard_size rows for the executor: each shard reads its
    vectors from the embedding cache where its map runs (the workers must see the cache
    folder), so the driver holds ids, labels and numeric columns only."""
    ids, labels = pool.ids, pool.labels()
    shards = [Shard(ids=ids[rows], vectors=_shard_loader(embeddings, rows, ids[rows],
                                                          pool.origin),
                    labels=None if labels is None else labels[rows],
                    columns={name: np.asarray(values)[rows] for name, values in scores.items()})
              for rows in split_rows(len(pool), -(-len(pool) // cfg.embed.shard_size))]
    return ShardedPool(shards=shards, cluster=cfg.cluster, executor=executor,
                       gather_limit=int(cfg.run.gather_limit_gb * 1024**3),
                       dim=embeddings.dim, target=target, instruction=lm_pool(pool, cfg))


def _shard_loader(embeddings: EmbeddingsRef, rows: np.ndarray, ids: np.ndarray, origin: str):
    def load() -> np.ndarray:
        vectors = embeddings.load_rows(rows)
        check_finite(vectors, f"embeddings of {origin}", ids)
        return vectors

    return load


def check_selection(selection: pl.DataFrame, budget: Budget, pool: Pool) -> None:
    ids = selection["id"]
    if ids.n_unique() != selection.height or selection.height != budget.total:
        raise RuntimeError(f"selection has {selection.height} rows ({ids.n_unique()} unique) "
                           f"for a budget of {budget.total}")
    if selection.join(pool.frame.select("id"), on="id", how="anti").height:
        raise RuntimeError("selection contains ids that are not in the pool")
