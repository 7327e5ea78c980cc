"""The stages of a curation run as plain functions over artifact references.

Each stage reads references (paths plus content keys), writes its output into the
content-addressed cache, and returns a small reference. Prefect tasks wrap these
functions unchanged (`curate/flows/`); `curate select` calls them directly.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from curate.budget import Budget, resolve_budget
from curate.config import Config, DataConfig
from curate.data import Pool, Schema, load_pool
from curate.data.builtin import BUILTINS
from curate.embed import EmbeddingsRef, check_finite, embed_pool
from curate.errors import CurateError
from curate.exec import make_executor
from curate.exec.keys import id_hashes
from curate.index import ClustersRef, cache_params, cluster_embeddings, kmeans_clusterer
from curate.selectors import SelectionView, make_selector
from curate.selectors.registry import code_fingerprint
from curate.selectors.sharded import Shard, ShardedPool, split_rows
from curate.store import ArtifactCache, atomic_path, hash_json


@dataclass(frozen=True)
class PoolRef:
    path: Path
    key: str
    fingerprint: str
    schema: dict
    origin: str
    rows: int
    cache_hit: bool
    stats: dict = field(default_factory=dict)  # rows_dropped by reason, into the manifest

    def load(self) -> Pool:
        return Pool(frame=pl.read_parquet(self.path), schema=Schema(**self.schema),
                    origin=self.origin, fingerprint=self.fingerprint)


@dataclass(frozen=True)
class SelectionRef:
    path: Path
    key: str
    budget: dict
    rows: int
    cache_hit: bool
    choice: dict | None = None  # what `auto` chose, and why

    def load(self) -> pl.DataFrame:
        return pl.read_parquet(self.path)


def _source_signature(cfg: Config) -> dict:
    """What identifies the source's content without reading it: file sizes and times."""
    data = cfg.data
    if data.path is not None:
        path = Path(data.path)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        return {"files": [(str(f), f.stat().st_size, f.stat().st_mtime_ns)
                          for f in files if f.exists()]}
    if data.source.startswith("builtin:"):
        name = data.source.removeprefix("builtin:")
        package = BUILTINS[name].package.split()[-1] if name in BUILTINS else name
        try:
            version = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            version = "system"
        return {"builtin": name, "version": version}
    return {"hub": data.source, "split": data.split}


def load_stage(cfg: Config, cache: ArtifactCache, refresh: bool = False) -> PoolRef:
    """Source -> validated pool parquet in the cache."""
    key = hash_json({"data": cfg.data.model_dump(mode="json"), "seed": cfg.run.seed,
                     "source": _source_signature(cfg), "version": 4})  # 4: blank text dropped
    folder = cache.entry("load", key)
    if cache.is_complete("load", key) and not refresh:
        meta = cache.manifest("load", key)
        return PoolRef(folder / "pool.parquet", key, meta["fingerprint"], meta["schema"],
                       meta["origin"], meta["rows"], cache_hit=True,
                       stats={"rows_dropped": meta["dropped"]})
    pool = load_pool(cfg.data, seed=cfg.run.seed)
    with atomic_path(folder / "pool.parquet") as tmp:
        pool.frame.write_parquet(tmp)
    schema = asdict(pool.schema)
    cache.finish("load", key, {"fingerprint": pool.fingerprint, "schema": schema,
                               "origin": pool.origin, "rows": len(pool),
                               "dropped": pool.dropped})
    return PoolRef(folder / "pool.parquet", key, pool.fingerprint, schema, pool.origin,
                   len(pool), cache_hit=False, stats={"rows_dropped": pool.dropped})


def embed_stage(pool_ref: PoolRef, cfg: Config, cache: ArtifactCache,
                refresh: bool = False) -> EmbeddingsRef:
    return embed_pool(pool_ref.load(), cfg.embed, cache, refresh, make_executor(cfg.run))


def dedup_stage(pool_ref: PoolRef, cfg: Config, cache: ArtifactCache,
                refresh: bool = False) -> PoolRef:
    """Pool -> the pool without duplicates (`curate.dedup`): exact ones always (unless
    dedup.exact is off), near ones with dedup.near (embedding the pool through the shared
    embedding cache, so the embed stage after this one reuses those vectors). Dropped rows,
    with the row kept in their place, go to `duplicates.parquet` beside the pool."""
    from curate.dedup import find_duplicates

    dedup = cfg.dedup
    key = hash_json({"pool": pool_ref.fingerprint, "dedup": dedup.model_dump(mode="json"),
                     "embed": cfg.embed.model_dump(mode="json") if dedup.near else None,
                     "version": 1})
    folder = cache.entry("dedup", key)
    if cache.is_complete("dedup", key) and not refresh:
        meta = cache.manifest("dedup", key)
        return PoolRef(folder / "pool.parquet", key, meta["fingerprint"], pool_ref.schema,
                       pool_ref.origin, meta["rows"], cache_hit=True, stats=meta["stats"])
    pool = pool_ref.load()
    found = find_duplicates(pool, dedup.exact, dedup.near, dedup.keep,
                            embed=lambda rows: embed_pool(rows, cfg.embed, cache, False,
                                                          make_executor(cfg.run)).load())
    kept = Pool(frame=pool.frame.filter(pl.Series(found.keep)), schema=pool.schema,
                origin=pool.origin)
    with atomic_path(folder / "pool.parquet") as tmp:
        kept.frame.write_parquet(tmp)
    with atomic_path(folder / "duplicates.parquet") as tmp:
        found.table(pool.ids).write_parquet(tmp)
    stats = {"rows_in": len(pool), "rows_out": len(kept), **found.counts(),
             "keep": dedup.keep, "near_threshold": dedup.near, "exact_on": dedup.exact}
    cache.finish("dedup", key, {"fingerprint": kept.fingerprint, "rows": len(kept),
                                "stats": stats})
    return PoolRef(folder / "pool.parquet", key, kept.fingerprint, pool_ref.schema,
                   pool_ref.origin, len(kept), cache_hit=False, stats=stats)


def cluster_stage(pool_ref: PoolRef, embeddings: EmbeddingsRef, cfg: Config,
                  cache: ArtifactCache, refresh: bool = False) -> ClustersRef:
    """The whole pool's k-means (the select stage's "all" group at cluster.k): its training
    sample is drawn by row key, so the pool's ids come with the vectors."""
    ids = pl.read_parquet(pool_ref.path, columns=["id"])["id"].to_numpy().astype(str)
    return cluster_embeddings(embeddings.load(), embeddings.key, cfg.cluster, cfg.run.seed,
                              cache, refresh, hashes=id_hashes(ids))


def select_stage(pool_ref: PoolRef, embeddings: EmbeddingsRef, clusters: ClustersRef | None,
                 cfg: Config, cache: ArtifactCache, refresh: bool = False) -> SelectionRef:
    """Resolve the budget and run the configured selector -> selection.parquet.

    `clusters` is the cluster stage's whole-pool clustering, already in the cache, which the
    view's clusterer reads back (None when selection is per label or on Ray)."""
    selector = make_selector(cfg.select.selector, cfg.select.params)
    # An outside selector's code is part of the key (an edit reselects); curate's own is not.
    # The clustering is not: embeddings key, cluster settings and seed decide it, and a run
    # on Ray has no cluster stage (the executor is never part of a key).
    code = code_fingerprint(type(selector))
    key = hash_json({**({"code": code} if code else {}),
                     "pool": pool_ref.fingerprint, "embeddings": embeddings.key,
                     "select": cfg.select.model_dump(mode="json"), "seed": cfg.run.seed,
                     "scoring": cfg.scoring.model_dump(mode="json"),
                     "target": cfg.target.model_dump(mode="json") if cfg.target else None,
                     "cluster": cache_params(cfg.cluster),
                     # 7: keyed randomness; 8: auto cites its figures; 9: its figures
                     # on a split per seed (the reasons change, the ids do not)
                     "version": 9})
    folder = cache.entry("select", key)
    if cache.is_complete("select", key) and not refresh:
        meta = cache.manifest("select", key)
        return SelectionRef(folder / "selection.parquet", key, meta["budget"], meta["rows"],
                            cache_hit=True, choice=meta.get("choice"))
    pool = pool_ref.load()
    budget = resolve_budget(cfg.select.budget, len(pool), pool.labels(),
                            cfg.select.allow_smaller, cfg.select.stratify)
    scores = numeric_columns(pool)
    user_columns = set(scores)
    scores_key = hash_json({"embeddings": embeddings.key, "pool": pool_ref.fingerprint,
                            "scoring": cfg.scoring.model_dump(mode="json"), "version": 1})
    if cache.is_complete("scores", scores_key) and not refresh:  # trained once per pool
        saved = pl.read_parquet(cache.entry("scores", scores_key) / "scores.parquet")
        scores.update({c: saved[c].to_numpy() for c in saved.columns if c != "id"})
    elif cfg.scoring.effort_model and pool.schema.prompt and pool.schema.response:
        from curate.scoring.lm_effort import lm_effort_for

        frame = pool.frame
        scores["effort"] = lm_effort_for(
            cfg.scoring.effort_model, cfg.output.cache_dir, frame[pool.schema.prompt].to_list(),
            frame[pool.schema.response].to_list(), batch_size=cfg.scoring.effort_batch_size,
            max_length=cfg.scoring.effort_max_length, seed=cfg.run.seed)
    target = target_embeddings(cfg, cache, refresh)
    if cfg.run.executor == "local":
        vectors = embeddings.load()
        check_finite(vectors, f"embeddings of {pool.origin}")
        view = SelectionView(ids=pool.ids, embeddings=vectors, labels=pool.labels(),
                             scores=scores,
                             cluster_fn=kmeans_clusterer(cfg.cluster, cache, embeddings.key),
                             target=target, seed=cfg.run.seed)
        selection = selector.select(view, budget, cfg.run.seed)
    else:
        executor = make_executor(cfg.run)
        sharded = sharded_pool(pool, embeddings, scores, cfg, target, executor)
        with executor.session():
            selection = selector.select_sharded(sharded, budget, cfg.run.seed)
        view = sharded.gathered_  # None when the selector's plan ran on the shards
    _check_selection(selection, budget, pool)
    with atomic_path(folder / "selection.parquet") as tmp:
        selection.write_parquet(tmp)
    all_scores = view.scores if view is not None else scores
    computed = {k: v for k, v in all_scores.items() if k not in user_columns}
    if computed:  # scores a selector computed (influence, effort...), one column each
        scores = pl.DataFrame({"id": pool.ids, **computed})
        with atomic_path(folder / "scores.parquet") as tmp:
            scores.write_parquet(tmp)
        if "ot_potential" not in computed:  # OT potentials depend on the target too
            with atomic_path(cache.entry("scores", scores_key) / "scores.parquet") as tmp:
                scores.write_parquet(tmp)
            cache.finish("scores", scores_key, {"columns": list(computed)})
    budget_info = asdict(budget)
    choice = ({"selector": selector.choice_, "reason": selector.reason_}
              if hasattr(selector, "choice_") else None)
    cache.finish("select", key, {"budget": budget_info, "rows": selection.height,
                                 "selector": cfg.select.selector, "params": selector.get_params(),
                                 "choice": choice})
    return SelectionRef(folder / "selection.parquet", key, budget_info, selection.height,
                        cache_hit=False, choice=choice)


def sharded_pool(pool: Pool, embeddings: EmbeddingsRef, scores: dict, cfg: Config,
                 target: np.ndarray | None, executor) -> ShardedPool:
    """The pool as shards of embed.shard_size rows for the executor: each shard reads its
    vectors from the embedding cache where its map runs (the workers must see the cache
    folder), so the driver holds ids, labels and numeric columns only."""
    ids, labels = pool.ids, pool.labels()
    shards = [Shard(ids=ids[rows], vectors=_shard_loader(embeddings, rows, pool.origin),
                    labels=None if labels is None else labels[rows],
                    columns={name: np.asarray(values)[rows] for name, values in scores.items()})
              for rows in split_rows(len(pool), -(-len(pool) // cfg.embed.shard_size))]
    return ShardedPool(shards=shards, cluster=cfg.cluster, executor=executor,
                       gather_limit=int(cfg.run.gather_limit_gb * 1024**3),
                       dim=embeddings.dim, target=target)


def _shard_loader(embeddings: EmbeddingsRef, rows: np.ndarray, origin: str):
    def load() -> np.ndarray:
        vectors = embeddings.load_rows(rows)
        check_finite(vectors, f"embeddings of {origin}", rows)
        return vectors

    return load


def target_embeddings(cfg: Config, cache: ArtifactCache, refresh: bool = False):
    """The target set's embeddings (same model and cache as the pool), or None."""
    if cfg.target is None:
        return None
    target = load_pool(DataConfig(**cfg.target.model_dump(exclude={"labels"})), cfg.run.seed)
    if cfg.target.labels is not None:
        labels = target.labels()
        if labels is None:
            raise CurateError("target.labels filters by label but the target has no label column",
                              "set target.label_column")
        keep = np.isin(labels, cfg.target.labels)
        if not keep.any():
            raise CurateError(f"no target rows have labels {cfg.target.labels}",
                              f"choose from: {', '.join(sorted(set(labels))[:20])}")
        target = Pool(frame=target.frame.filter(pl.Series(keep)), schema=target.schema,
                      origin=target.origin)
    return embed_pool(target, cfg.embed, cache, refresh).load()


def numeric_columns(pool: Pool) -> dict:
    """The pool's numeric columns, offered to selectors as scores (e.g. kmq's quality)."""
    frame = pool.frame
    return {name: frame[name].cast(pl.Float64).fill_null(float("nan")).to_numpy()
            for name, dtype in frame.schema.items()
            if dtype.is_numeric() and name != pool.schema.label}


def _check_selection(selection: pl.DataFrame, budget: Budget, pool: Pool) -> None:
    ids = selection["id"]
    if ids.n_unique() != selection.height or selection.height != budget.total:
        raise RuntimeError(f"selection has {selection.height} rows ({ids.n_unique()} unique) "
                           f"for a budget of {budget.total}")
    if selection.join(pool.frame.select("id"), on="id", how="anti").height:
        raise RuntimeError("selection contains ids that are not in the pool")


@dataclass(frozen=True)
class TableRef:
    """A parquet table in the cache (synthetic rows, the assembled subset) and its stats."""

    path: Path
    key: str
    rows: int
    stats: dict
    cache_hit: bool

    def load(self) -> pl.DataFrame:
        return pl.read_parquet(self.path)


def synthesize_stage(pool_ref: PoolRef, selection_ref: SelectionRef, cfg: Config,
                     cache: ArtifactCache, refresh: bool = False) -> TableRef:
    """Selection (+ pool) -> synthetic.parquet: `synth.per_label` rows per label, filtered by
    the generator's own filter."""
    from curate.synth import Services, make_generator

    synth = cfg.synth
    generator = make_generator(synth.generator, synth.params)
    key = hash_json({"pool": pool_ref.fingerprint, "selection": selection_ref.key,
                     "synth": synth.model_dump(mode="json"), "embed": cfg.embed.model_dump(
                         mode="json"), "seed": cfg.run.seed, "version": 1})
    folder = cache.entry("synthesize", key)
    if cache.is_complete("synthesize", key) and not refresh:
        meta = cache.manifest("synthesize", key)
        return TableRef(folder / "synthetic.parquet", key, meta["rows"], meta["stats"], True)
    pool = pool_ref.load()
    real = Pool(frame=subset_frame(pool_ref, selection_ref).drop("selector"),
                schema=pool.schema, origin=pool.origin)
    services = Services(embed=lambda rows: embed_pool(rows, cfg.embed, cache).load(),
                        cache_dir=cfg.output.cache_dir)
    generator.fit(real, pool if synth.use_pool else None, cfg.run.seed, services)
    per_label = dict.fromkeys(generator.labels_, synth.per_label)
    synthetic = generator.generate(per_label, cfg.run.seed)
    with atomic_path(folder / "synthetic.parquet") as tmp:
        synthetic.write_parquet(tmp)
    stats = {"generator": synth.generator, "params": generator.get_params(),
             "requested_per_label": synth.per_label, "rows": synthetic.height}
    cache.finish("synthesize", key, {"rows": synthetic.height, "stats": stats})
    return TableRef(folder / "synthetic.parquet", key, synthetic.height, stats, False)


def assemble_stage(pool_ref: PoolRef, selection_ref: SelectionRef, synthetic: TableRef | None,
                   cfg: Config, cache: ArtifactCache, refresh: bool = False) -> TableRef:
    """Selection + synthetic rows -> subset.parquet (dedup, synthetic budget, label balance)."""
    from curate.synth.assemble import assemble

    key = hash_json({"pool": pool_ref.fingerprint, "selection": selection_ref.key,
                     "synthetic": synthetic.key if synthetic else None,
                     "budget": cfg.synth.budget, "balance": cfg.synth.balance, "version": 1})
    folder = cache.entry("assemble", key)
    if cache.is_complete("assemble", key) and not refresh:
        meta = cache.manifest("assemble", key)
        return TableRef(folder / "subset.parquet", key, meta["rows"], meta["stats"], True)
    subset, stats = assemble(subset_frame(pool_ref, selection_ref),
                             synthetic.load() if synthetic else None,
                             Schema(**pool_ref.schema), cfg.synth.budget, cfg.synth.balance)
    with atomic_path(folder / "subset.parquet") as tmp:
        subset.write_parquet(tmp)
    cache.finish("assemble", key, {"rows": subset.height, "stats": stats})
    return TableRef(folder / "subset.parquet", key, subset.height, stats, False)


def subset_frame(pool_ref: PoolRef, selection_ref: SelectionRef) -> pl.DataFrame:
    """The selected pool rows, in selection order."""
    selection = selection_ref.load().select("id", "selector")
    return selection.join(pool_ref.load().frame, on="id", how="left", maintain_order="left")
