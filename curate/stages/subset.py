"""The subset's stages: synthetic rows for the selection, then the assembled subset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from curate.config import Config
from curate.data import Pool, Schema
from curate.data.pool import SELECTOR
from curate.embed import embed_pool
from curate.stages.pool import PoolRef
from curate.stages.select import SelectionRef
from curate.store import ArtifactCache, StageRef, atomic_path, cached_stage


@dataclass(frozen=True, kw_only=True)
class TableRef(StageRef):
    """A parquet table in the cache (synthetic rows, the assembled subset) and its stats."""

    rows: int

    def load(self) -> pl.DataFrame:
        return pl.read_parquet(self.path)


def _table_ref(entry, name: str) -> TableRef:
    return TableRef(path=entry.folder / name, key=entry.key, cache_hit=entry.hit,
                    rows=entry.manifest["rows"], stats=entry.manifest["stats"])


def synthesize_stage(pool_ref: PoolRef, selection_ref: SelectionRef, cfg: Config,
                     cache: ArtifactCache, refresh: bool = False) -> TableRef:
    """Selection (+ pool) -> synthetic.parquet: `synth.per_label` rows per label, filtered by
    the generator's own filter."""
    from curate.synth import Services, make_generator

    synth = cfg.synth
    generator = make_generator(synth.generator, synth.params)

    def compute(folder: Path) -> dict:
        pool = pool_ref.load()
        real = Pool(frame=subset_frame(pool_ref, selection_ref).drop(SELECTOR),
                    schema=pool.schema, origin=pool.origin)
        services = Services(embed=lambda rows: embed_pool(rows, cfg.embed, cache).load(),
                            cache_dir=cfg.output.cache_dir)
        generator.fit(real, pool if synth.use_pool else None, cfg.run.seed, services)
        synthetic = generator.generate(dict.fromkeys(generator.labels_, synth.per_label),
                                       cfg.run.seed)
        with atomic_path(folder / "synthetic.parquet") as tmp:
            synthetic.write_parquet(tmp)
        stats = {"generator": synth.generator, "params": generator.get_params(),
                 "requested_per_label": synth.per_label, "rows": synthetic.height}
        return {"rows": synthetic.height, "stats": stats}

    entry = cached_stage(cache, "synthesize", {
        "pool": pool_ref.fingerprint, "selection": selection_ref.key,
        "synth": synth.model_dump(mode="json"), "embed": cfg.embed.model_dump(mode="json"),
        "seed": cfg.run.seed, "version": 1}, compute, refresh)
    return _table_ref(entry, "synthetic.parquet")


def assemble_stage(pool_ref: PoolRef, selection_ref: SelectionRef, synthetic: TableRef | None,
                   cfg: Config, cache: ArtifactCache, refresh: bool = False) -> TableRef:
    """Selection + synthetic rows -> subset.parquet (dedup, synthetic budget, label balance)."""
    from curate.synth.assemble import assemble

    def compute(folder: Path) -> dict:
        subset, stats = assemble(subset_frame(pool_ref, selection_ref),
                                 synthetic.load() if synthetic else None,
                                 Schema(**pool_ref.schema), cfg.synth.budget, cfg.synth.balance)
        with atomic_path(folder / "subset.parquet") as tmp:
            subset.write_parquet(tmp)
        return {"rows": subset.height, "stats": stats}

    entry = cached_stage(cache, "assemble", {
        "pool": pool_ref.fingerprint, "selection": selection_ref.key,
        "synthetic": synthetic.key if synthetic else None, "budget": cfg.synth.budget,
        "balance": cfg.synth.balance, "version": 2}, compute, refresh)  # 2: curate_* columns
    return _table_ref(entry, "subset.parquet")


def subset_frame(pool_ref: PoolRef, selection_ref: SelectionRef) -> pl.DataFrame:
    """The selected pool rows, in selection order, with the selector that chose each
    (`curate_selector`: load refuses a pool column of that name, so none is replaced)."""
    selection = selection_ref.load().select("id", pl.col("selector").alias(SELECTOR))
    return selection.join(pool_ref.load().frame, on="id", how="left", maintain_order="left")
