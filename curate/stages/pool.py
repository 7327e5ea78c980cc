"""The pool's stages: load the source, drop duplicates, embed, cluster; and the target set's
embeddings for distribution-shift selection."""

from __future__ import annotations

import importlib.metadata
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from curate.config import Config, DataConfig
from curate.data import Pool, Schema, load_pool
from curate.data.builtin import BUILTINS
from curate.data.sources import sample_rows
from curate.embed import EmbeddingsRef, embed_pool, embed_stored_pool
from curate.embed.models import file_digest
from curate.errors import CurateError
from curate.exec import make_executor
from curate.exec.keys import id_hashes
from curate.index import ClustersRef, cluster_embeddings
from curate.store import ArtifactCache, StageRef, atomic_path, cached_stage

# Rows per row group of a pool parquet: polars holds a whole row group while it writes one,
# and its default row group is most of a pool (a vector pool's frame held a second time).
POOL_ROW_GROUP = 16_384
DROPPED = "dropped.parquet"


@dataclass(frozen=True, kw_only=True)
class PoolRef(StageRef):
    """A pool parquet in the cache, with the rows the stage left out beside it (`dropped`);
    `stats` holds the rows read and dropped by reason (load) or the duplicates found
    (dedup)."""

    fingerprint: str
    schema: dict
    origin: str
    rows: int

    @property
    def dropped(self) -> Path:
        """The rows this stage left out (`curate.data.pool.dropped_rows`)."""
        return self.path.with_name(DROPPED)

    def load(self, vectors: bool = True) -> Pool:
        """The pool; `vectors=False` leaves out its vector column, which the stages after
        embed never read (they read the embedding cache): a pool of vectors is mostly that
        column."""
        column = self.schema.get("vectors")
        columns = None if vectors or not column else [
            c for c in pl.scan_parquet(self.path).collect_schema().names() if c != column]
        return Pool(frame=pl.read_parquet(self.path, columns=columns),
                    schema=Schema(**self.schema), origin=self.origin,
                    fingerprint=self.fingerprint)


def _source_signature(cfg: Config, cache: ArtifactCache) -> dict:
    """What identifies the source's content: a local file's bytes (mtimes can be restored by
    `cp -p`, `rsync -a` or `tar x` after an edit), hashed once per change. A pipe or a
    device is not read here: the load refuses it."""
    data = cfg.data
    if data.path is not None:
        path = Path(data.path)
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        return {"files": [(str(f), file_digest(f, cache.root / "digests"))
                          for f in files if f.is_file()]}
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

    def compute(folder: Path) -> dict:
        pool = load_pool(cfg.data, seed=cfg.run.seed)
        with atomic_path(folder / DROPPED) as tmp:
            pool.dropped_rows.write_parquet(tmp)
        with atomic_path(folder / "pool.parquet") as tmp:
            pool.frame.write_parquet(tmp, row_group_size=POOL_ROW_GROUP)
        return {"fingerprint": pool.fingerprint, "schema": asdict(pool.schema),
                "origin": pool.origin, "rows": len(pool), "dropped": pool.dropped,
                "read": pool.read}

    entry = cached_stage(cache, "load", {
        "data": cfg.data.model_dump(mode="json"), "seed": cfg.run.seed,
        "source": _source_signature(cfg, cache), "version": 6},  # 6: dropped rows kept
        compute, refresh)
    meta = entry.manifest
    return PoolRef(path=entry.folder / "pool.parquet", key=entry.key, cache_hit=entry.hit,
                   fingerprint=meta["fingerprint"], schema=meta["schema"],
                   origin=meta["origin"], rows=meta["rows"],
                   stats={"rows_read": meta["read"], "rows_dropped": meta["dropped"]})


def dedup_stage(pool_ref: PoolRef, cfg: Config, cache: ArtifactCache,
                refresh: bool = False) -> PoolRef:
    """Pool -> the pool without duplicates (`curate.dedup`): exact ones always (unless
    dedup.exact is off), near ones with dedup.near (embedding the pool through the shared
    embedding cache, so the embed stage after this one reuses those vectors). Dropped rows,
    with the row kept in their place, go to `dropped.parquet` beside the pool."""
    from curate.dedup import find_duplicates

    dedup = cfg.dedup

    def compute(folder: Path) -> dict:
        pool = pool_ref.load()
        found = find_duplicates(pool, dedup.exact, dedup.near, dedup.keep,
                                embed=lambda rows: embed_pool(rows, cfg.embed, cache, False,
                                                              make_executor(cfg.run)).load())
        with atomic_path(folder / DROPPED) as tmp:
            found.table(pool).write_parquet(tmp)
        rows_out = int(found.keep.sum())
        with atomic_path(folder / "pool.parquet") as tmp:
            if rows_out == len(pool):  # the loaded file as is: no second copy of the frame
                shutil.copyfile(pool_ref.path, tmp)
                fingerprint = pool_ref.fingerprint
            else:
                kept = Pool(frame=pool.frame.filter(pl.Series(found.keep)),
                            schema=pool.schema, origin=pool.origin)
                kept.frame.write_parquet(tmp, row_group_size=POOL_ROW_GROUP)
                fingerprint = kept.fingerprint
        stats = {"rows_in": len(pool), "rows_out": rows_out, **found.counts(),
                 "keep": dedup.keep, "near_threshold": dedup.near, "exact_on": dedup.exact}
        return {"fingerprint": fingerprint, "rows": rows_out, "stats": stats}

    entry = cached_stage(cache, "dedup", {
        "pool": pool_ref.fingerprint, "dedup": dedup.model_dump(mode="json"),
        "embed": cfg.embed.model_dump(mode="json") if dedup.near else None,
        "version": 2},  # 2: dropped rows with their text
        compute, refresh)
    meta = entry.manifest
    return PoolRef(path=entry.folder / "pool.parquet", key=entry.key, cache_hit=entry.hit,
                   fingerprint=meta["fingerprint"], schema=pool_ref.schema,
                   origin=pool_ref.origin, rows=meta["rows"], stats=meta["stats"])


def embed_stage(pool_ref: PoolRef, cfg: Config, cache: ArtifactCache,
                refresh: bool = False) -> EmbeddingsRef:
    """The pool's embeddings; the pool is read only when some row must be embedded."""
    return embed_stored_pool(Schema(**pool_ref.schema), pool_ref.fingerprint, pool_ref.load,
                             cfg.embed, cache, refresh, make_executor(cfg.run))


def cluster_stage(pool_ref: PoolRef, embeddings: EmbeddingsRef, cfg: Config,
                  cache: ArtifactCache, refresh: bool = False) -> ClustersRef:
    """The whole pool's k-means (the select stage's "all" group at cluster.k): its training
    sample is drawn by row key, so the pool's ids come with the vectors."""
    ids = pl.read_parquet(pool_ref.path, columns=["id"])["id"].to_numpy().astype(str)
    return cluster_embeddings(embeddings.load, embeddings.rows, embeddings.key, cfg.cluster,
                              cfg.run.seed, cache, refresh, hashes=id_hashes(ids))


def target_embeddings(cfg: Config, cache: ArtifactCache, refresh: bool = False):
    """The target set's embeddings (same model and cache as the pool), or None."""
    if cfg.target is None:
        return None
    # target.sample is drawn from the rows target.labels keeps, so it never comes up empty
    target = load_pool(DataConfig(**cfg.target.model_dump(exclude={"labels", "sample"})),
                       cfg.run.seed)
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
    target = Pool(frame=sample_rows(target.frame, cfg.target.sample, cfg.run.seed),
                  schema=target.schema, origin=target.origin)
    return embed_pool(target, cfg.embed, cache, refresh).load()
