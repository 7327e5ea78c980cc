"""Pool -> Embeddings: float32 (N, d), L2-normalised, cached in `.npy` shards.

The cache key is (pool fingerprint, model identity, pooling, max length, precision). Shards
are written as they finish, so an interrupted run resumes at the first missing shard.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curate.config import EmbedConfig
from curate.data.pool import Pool
from curate.embed.image import EfficientNetLite0Encoder, l2_normalise, pixel_vectors
from curate.embed.text import TextEncoder
from curate.errors import CurateError
from curate.progress import progress_bar
from curate.store import ArtifactCache, atomic_path, hash_json

STAGE = "embed"


@dataclass(frozen=True)
class EmbeddingsRef:
    """Where a pool's embeddings live, and whether this run computed them."""

    folder: Path
    key: str
    rows: int
    dim: int
    cache_hit: bool

    def load(self) -> np.ndarray:
        shards = sorted(self.folder.glob("shard-*.npy"))
        return np.concatenate([np.load(s) for s in shards]) if shards else np.empty((0, 0))


def _encoder(pool: Pool, cfg: EmbedConfig):
    if pool.schema.modality == "vectors":
        return None
    if pool.schema.modality == "text":
        return TextEncoder(cfg.model, cfg.pooling, cfg.max_length, cfg.batch_size,
                           cfg.precision, cfg.device)
    if cfg.image_features == "efficientnet-lite0":
        return EfficientNetLite0Encoder(batch_size=cfg.batch_size, device=cfg.device)
    return None


def embedding_key(pool: Pool, cfg: EmbedConfig) -> str:
    return hash_json({"pool": pool.fingerprint, "encoder": embedding_key_parts(pool, cfg),
                      "version": 1})


def check_finite(vectors: np.ndarray, what: str) -> None:
    bad = ~np.isfinite(vectors).all(axis=1)
    if bad.any():
        raise CurateError(f"{what} has {int(bad.sum())} rows with NaN or inf values "
                          f"(first at row {int(np.argmax(bad))})",
                          "drop or fix those rows before selection")


def embed_pool(pool: Pool, cfg: EmbedConfig, cache: ArtifactCache,
               refresh: bool = False) -> EmbeddingsRef:
    key = embedding_key(pool, cfg)
    folder = cache.entry(STAGE, key)
    if cache.is_complete(STAGE, key) and not refresh:
        meta = cache.manifest(STAGE, key)
        return EmbeddingsRef(folder, key, meta["rows"], meta["dim"], cache_hit=True)
    if refresh:
        for stale in folder.glob("shard-*.npy"):
            stale.unlink()
    encoder = _encoder(pool, cfg)
    n_shards = max(1, -(-len(pool) // cfg.shard_size))
    dim = 0
    with progress_bar(f"embed {pool.origin}", total=len(pool)) as advance:
        for shard in range(n_shards):
            path = folder / f"shard-{shard:05d}.npy"
            rows = slice(shard * cfg.shard_size, (shard + 1) * cfg.shard_size)
            if path.exists():
                dim = np.load(path, mmap_mode="r").shape[1]
                advance(len(pool.frame[rows]))
                continue
            vectors = _embed_rows(pool, rows, encoder, advance)
            check_finite(vectors, f"embeddings of {pool.origin}")
            dim = vectors.shape[1]
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                np.save(f, vectors)
    cache.finish(STAGE, key, {"rows": len(pool), "dim": dim, "pool": pool.fingerprint,
                              "encoder": embedding_key_parts(pool, cfg)})
    return EmbeddingsRef(folder, key, len(pool), dim, cache_hit=False)


def embedding_key_parts(pool: Pool, cfg: EmbedConfig) -> dict:
    if pool.schema.modality == "vectors":
        return {"vectors": pool.schema.vectors}
    encoder = _encoder(pool, cfg)
    return encoder.config_key() if isinstance(encoder, TextEncoder) else {
        "image_features": cfg.image_features}


def _embed_rows(pool: Pool, rows: slice, encoder, advance) -> np.ndarray:
    if pool.schema.modality == "vectors":
        vectors = pool.vectors()[rows]
        check_finite(vectors, f"column '{pool.schema.vectors}' of {pool.origin}")
        advance(len(vectors))
        return l2_normalise(vectors)
    if pool.schema.modality == "text":
        return encoder.encode(pool.texts()[rows], on_batch=advance)
    images = pool.images()[rows]
    if encoder is None:
        advance(len(images))
        return pixel_vectors(images)
    return encoder.encode(images, on_batch=advance)
