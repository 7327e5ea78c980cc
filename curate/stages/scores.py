"""The select stage's scores: the pool's own numeric columns, and scores computed from it
(LM effort and LM scores up front; influence, effort and the like by selectors), kept per
pool, embeddings and scoring settings so a rerun trains the surrogate once. LM scores
(`curate.scoring.lm_scores`) also have a cache of their own, by row content."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from curate.config import Config
from curate.data import Pool
from curate.embed import EmbeddingsRef
from curate.errors import CurateError
from curate.scoring.lm_scores import LM_SCORES, lm_scores, lm_scores_named
from curate.selectors import make_selector
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
    when `scoring.effort_model` asks for it on prompt/response rows; LM scores when the
    selector's parameters name one or `scoring.lm_scores` asks (`lm_scores_wanted`)."""
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
    if any(name not in columns for name in lm_scores_wanted(cfg)):
        lm_columns = pool_lm_scores(pool, cfg, cache, refresh)
        columns.update({k: v for k, v in lm_columns.items() if k not in scores.given})
    return scores


def lm_scores_wanted(cfg: Config) -> list[str]:
    """The LM scores the select stage computes: those the configured selector's parameters
    name, defaults included (kmq's quality: ifd; longest's response_tokens), or all of them
    with `scoring.lm_scores`."""
    if cfg.scoring.lm_scores:
        return list(LM_SCORES)
    return lm_scores_named(make_selector(cfg.select.selector, cfg.select.params).get_params())


def pool_lm_scores(pool: Pool, cfg: Config, cache: ArtifactCache,
                   refresh: bool = False) -> dict[str, np.ndarray]:
    """Every LM score of the pool's prompt/response rows (cached by row content)."""
    prompt, response = pool.schema.prompt, pool.schema.response
    if not (prompt and response):
        raise CurateError(f"the LM scores ({', '.join(LM_SCORES)}) need prompt/response rows, "
                          f"and {pool.origin} has none",
                          "set data.prompt_column and data.response_column, or name a score "
                          "the pool has in select.params (and leave scoring.lm_scores off)")
    frame = pool.frame
    return lm_scores(frame[prompt].cast(pl.Utf8).fill_null("").to_list(),
                     frame[response].cast(pl.Utf8).fill_null("").to_list(),
                     cfg.scoring.lm_model, cache, batch_size=cfg.scoring.lm_batch_size,
                     max_length=cfg.scoring.lm_max_length, refresh=refresh)


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
