"""The select stage's scores: the pool's own numeric columns, and scores computed from it
(LM effort up front; influence, effort and the like by selectors), kept per pool, embeddings
and scoring settings so a rerun trains the surrogate once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from curate.config import Config
from curate.data import Pool
from curate.embed import EmbeddingsRef
from curate.store import ArtifactCache, atomic_path, hash_json

STAGE = "scores"


@dataclass
class PoolScores:
    """Score columns by name, in pool row order; `given` names the pool's own columns."""

    columns: dict[str, np.ndarray]
    given: set[str]
    key: str  # the cache key of the computed ones


def numeric_columns(pool: Pool) -> dict:
    """The pool's numeric columns, offered to selectors as scores (e.g. kmq's quality)."""
    frame = pool.frame
    return {name: frame[name].cast(pl.Float64).fill_null(float("nan")).to_numpy()
            for name, dtype in frame.schema.items()
            if dtype.is_numeric() and name != pool.schema.label}


def pool_scores(pool: Pool, embeddings: EmbeddingsRef, cfg: Config, cache: ArtifactCache,
                refresh: bool = False) -> PoolScores:
    """The pool's numeric columns plus the scores cached for it, or LM effort computed now
    when `scoring.effort_model` asks for it on prompt/response rows."""
    columns = numeric_columns(pool)
    scores = PoolScores(columns, set(columns), hash_json({
        "embeddings": embeddings.key, "pool": pool.fingerprint,
        "scoring": cfg.scoring.model_dump(mode="json"), "version": 1}))
    if cache.is_complete(STAGE, scores.key) and not refresh:
        saved = pl.read_parquet(cache.entry(STAGE, scores.key) / "scores.parquet")
        columns.update({c: saved[c].to_numpy() for c in saved.columns if c != "id"})
    elif cfg.scoring.effort_model and pool.schema.prompt and pool.schema.response:
        from curate.scoring.lm_effort import lm_effort_for

        frame = pool.frame
        columns["effort"] = lm_effort_for(
            cfg.scoring.effort_model, cfg.output.cache_dir, frame[pool.schema.prompt].to_list(),
            frame[pool.schema.response].to_list(), batch_size=cfg.scoring.effort_batch_size,
            max_length=cfg.scoring.effort_max_length, seed=cfg.run.seed)
    return scores


def save_computed(scores: PoolScores, after: dict[str, np.ndarray], ids: np.ndarray,
                  folder: Path, cache: ArtifactCache) -> None:
    """Scores the selection computed (`after` holds every column once it ran), one column
    each: beside the selection, and in the scores cache unless they depend on the target."""
    computed = {k: v for k, v in after.items() if k not in scores.given}
    if not computed:
        return
    table = pl.DataFrame({"id": ids, **computed})
    with atomic_path(folder / "scores.parquet") as tmp:
        table.write_parquet(tmp)
    if "ot_potential" not in computed:  # OT potentials depend on the target too
        with atomic_path(cache.entry(STAGE, scores.key) / "scores.parquet") as tmp:
            table.write_parquet(tmp)
        cache.finish(STAGE, scores.key, {"columns": list(computed)})
