"""What a run left behind, loaded once for its report: the run folder's files and the
cache entries its manifest's stages point to (the pool, its embeddings, the whole-pool
clustering); a missing entry leaves a note instead of failing.

A report holds the pool's small columns only: its vectors and images stay on disk, and
the figures read the few rows they draw (`RunArtifacts.wide_columns`,
`EmbeddingsRef.load_rows`), so `curate report` on a large pool costs little more than its
ids and labels."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from curate.store import MANIFEST, read_json

if TYPE_CHECKING:
    from curate.embed import EmbeddingsRef


@dataclass
class RunArtifacts:
    """What a run left behind, loaded once; None where an artifact is absent."""

    folder: Path
    manifest: dict
    selection: pl.DataFrame
    config: dict = field(default_factory=dict)
    handoff: dict | None = None
    pool: pl.DataFrame | None = None  # without the vector and image columns (`wide`)
    pool_path: Path | None = None
    wide: tuple[str, ...] = ()
    schema: dict = field(default_factory=dict)
    embeddings: EmbeddingsRef | None = None  # read by row: the map draws a sample
    assignment: np.ndarray | None = None  # whole-pool k-means cluster of every pool row
    clustering: str = ""  # which k-means `assignment` is, for captions
    scores: pl.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    @functools.cached_property
    def chosen(self) -> np.ndarray:
        """Boolean mask over pool rows: selected."""
        return self.pool["id"].is_in(self.selection["id"].implode()).to_numpy()

    def wide_columns(self, ids: pl.Series, columns: list[str]) -> pl.DataFrame:
        """`id` and `columns` (left out of `pool`) of the rows `ids`, from the pool parquet."""
        return (pl.scan_parquet(self.pool_path).select("id", *columns)
                .filter(pl.col("id").is_in(ids.implode())).collect())


def _artifact(manifest: dict, stage: str) -> Path | None:
    where = manifest.get("stages", {}).get(stage, {}).get("artifact")
    return Path(where) if where else None


def _embeddings(folder: Path) -> EmbeddingsRef:
    """The embed stage's own reference to its entry, once its shard files are all there."""
    from curate.embed import EmbeddingsRef

    ref = EmbeddingsRef.read(folder)
    missing = [name for name in read_json(folder / MANIFEST)["shards"]
               if not (ref.shards / f"{name}.vectors.npy").exists()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} shard(s) gone, {missing[0]} first")
    return ref


def load_artifacts(run_dir: Path) -> RunArtifacts:
    import yaml

    run_dir = Path(run_dir)
    manifest = read_json(run_dir / "manifest.json")
    art = RunArtifacts(run_dir, manifest, pl.read_parquet(run_dir / "selection.parquet"))
    if (run_dir / "config.yaml").exists():
        art.config = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    if (run_dir / "handoff.json").exists():
        art.handoff = read_json(run_dir / "handoff.json")
    if (run_dir / "scores.parquet").exists():
        art.scores = pl.read_parquet(run_dir / "scores.parquet")
    # The pool the selector saw: after dedup when the run deduplicated.
    pool_path = _artifact(manifest, "dedup") or _artifact(manifest, "load")
    if pool_path is not None and pool_path.suffix != ".parquet":
        pool_path = _artifact(manifest, "load")
    if pool_path is None or not pool_path.exists():
        art.notes.append(f"pool not found in the cache ({pool_path}): map, label mix, "
                         "clusters and examples of unselected rows are left out")
        return art
    load_path = _artifact(manifest, "load")
    meta = load_path.with_name("manifest.json") if load_path else None
    art.schema = read_json(meta)["schema"] if meta is not None and meta.exists() else {}
    art.pool_path = pool_path
    art.wide = tuple(c for c in (art.schema.get("vectors"), art.schema.get("image")) if c)
    art.pool = pl.read_parquet(pool_path, columns=[
        c for c in pl.scan_parquet(pool_path).collect_schema().names() if c not in art.wide])
    embed = _artifact(manifest, "embed")
    try:
        vectors = _embeddings(embed) if embed else None
        if vectors is not None and vectors.rows == art.pool.height:
            art.embeddings = vectors
    except (OSError, KeyError, ValueError) as err:
        art.notes.append(f"embeddings not readable from the cache ({embed}): {err}")
    clusters = _artifact(manifest, "cluster")
    if clusters is not None and (clusters / "assignment.npy").exists():
        assignment = np.load(clusters / "assignment.npy")
        if len(assignment) == art.pool.height:
            art.assignment = assignment
            art.clustering = f"Whole-pool k-means, {int(assignment.max()) + 1} clusters"
    return art


# A run that clustered inside each label (or not at all) has no whole-pool clustering: the
# report fits one, lighter than the cluster stage's, at most one cluster per this many rows.
REPORT_ROWS_PER_CLUSTER = 20
REPORT_KMEANS = {"niter": 20, "nredo": 1}


def report_clustering(art: RunArtifacts, seed: int) -> None:
    """Set `art.assignment` for a run without a whole-pool clustering: a k-means of the
    pool's embeddings, kept in the run's cache (a cluster-stage entry of its own settings),
    so a rebuilt report finds it."""
    if art.assignment is not None or art.embeddings is None or art.pool is None:
        return
    from curate.config import ClusterConfig
    from curate.exec.keys import id_hashes
    from curate.index import cluster_embeddings
    from curate.store import ArtifactCache

    settings = ClusterConfig(**(art.config.get("cluster") or {}))
    k = max(1, min(settings.k, art.pool.height // REPORT_ROWS_PER_CLUSTER))
    settings = settings.model_copy(update={"k": k, **REPORT_KMEANS})
    ref = cluster_embeddings(art.embeddings.load, art.embeddings.rows, art.embeddings.key,
                             settings, seed, ArtifactCache(art.embeddings.path.parent.parent),
                             hashes=id_hashes(art.pool["id"].to_numpy()))
    art.assignment = ref.load()[1]
    art.clustering = (f"Whole-pool k-means fitted for this report (the selector clustered "
                      f"inside each label or not at all), {ref.k} clusters")
