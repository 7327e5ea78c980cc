"""Pool -> Embeddings: float32 (N, d), L2-normalised, cached per row content.

Vectors live in shards under one folder per encoder (model, pooling, max length,
precision): `<hash>.vectors.npy` plus `<hash>.keys.npy`, the content hash of each of its
rows, and `<hash>.json` with their checksums (`curate.embed.shards`); a shard is named by
the hash of its rows' keys. A pool's entry records which shard
and row holds each of its rows. A pool that has grown therefore embeds only rows whose
content no shard holds yet, and an interrupted run resumes after the last shard it wrote.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curate.config import EmbedConfig
from curate.data.pool import Pool, Schema
from curate.embed import shards as shard_files
from curate.embed.image import EfficientNetLite0Encoder, l2_normalise, pixel_vectors
from curate.embed.text import TextEncoder
from curate.errors import CurateError
from curate.exec import Executor, LocalExecutor
from curate.progress import progress_bar
from curate.store import (
    MANIFEST,
    ArtifactCache,
    StageRef,
    atomic_path,
    cached_stage,
    hash_json,
    read_json,
)

STAGE = "embed"
ROWS_STAGE = "embed-rows"


@dataclass(frozen=True, kw_only=True)
class EmbeddingsRef(StageRef):
    """Where a pool's embeddings live (`path`: the pool's entry; `shards`: the encoder's
    row shards), and what this run computed (`stats`)."""

    shards: Path
    rows: int
    dim: int

    @classmethod
    def read(cls, folder: Path) -> EmbeddingsRef:
        """The reference to an embed-stage entry folder, as its manifest describes it (the
        report reads a run's embeddings this way)."""
        meta = read_json(Path(folder) / MANIFEST)
        shards = Path(folder).parent.parent / ROWS_STAGE / _encoder_key(meta["encoder"])[:32]
        return cls(path=Path(folder), key=meta["key"], cache_hit=True, shards=shards,
                   rows=meta["rows"], dim=meta["dim"])

    def load(self) -> np.ndarray:
        """The (rows, dim) matrix in pool row order, gathered shard by shard."""
        if self.rows == 0:
            return np.empty((0, 0), dtype=np.float32)
        return self.load_rows(np.arange(self.rows))

    def load_rows(self, rows: np.ndarray) -> np.ndarray:
        """The vectors of pool rows `rows` (in that order), read from their shards only."""
        names = read_json(self.path / MANIFEST)["shards"]
        where = np.load(self.path / "rows.npy", mmap_mode="r")[rows]
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        for i in np.unique(where[:, 0]):
            mine = np.flatnonzero(where[:, 0] == i)
            vectors = np.load(self.shards / f"{names[i]}.vectors.npy", mmap_mode="r")
            out[mine] = vectors[where[mine, 1]]
        return out


def _encoder(modality: str, cfg: EmbedConfig):
    if modality == "vectors":
        return None
    if modality == "text":
        return TextEncoder(cfg.model, cfg.pooling, cfg.max_length, cfg.batch_size,
                           cfg.precision, cfg.device, cfg.prompt)
    if cfg.image_features == "efficientnet-lite0":
        return EfficientNetLite0Encoder(batch_size=cfg.batch_size, device=cfg.device)
    return None


def embedding_key(pool: Pool, cfg: EmbedConfig) -> str:
    return hash_json(_embedding_key_parts(pool.schema, pool.fingerprint, cfg))


def _embedding_key_parts(schema: Schema, fingerprint: str, cfg: EmbedConfig) -> dict:
    return {"pool": fingerprint, "encoder": _encoder_parts(schema, cfg), "version": 2}


def _encoder_key(parts: dict) -> str:
    """The key of an encoder's row shards (`ROWS_STAGE`), from its settings."""
    return hash_json({"encoder": parts, "version": 1})


def check_finite(vectors: np.ndarray, what: str, ids: np.ndarray) -> None:
    """Fail on rows with NaN or inf, naming the first by its id (`ids`: one per row of
    `vectors`; a position in the id-sorted pool is no row number of the user's file).
    Checked in blocks of rows: a mask of the whole matrix would add to the embed stage's
    peak."""
    bad = np.zeros(len(vectors), dtype=bool)
    for start in range(0, len(vectors), 65_536):
        bad[start:start + 65_536] = ~np.isfinite(vectors[start:start + 65_536]).all(axis=1)
    if bad.any():
        raise CurateError(f"{what} has {int(bad.sum())} rows with NaN or inf values "
                          f"(first: id {str(ids[np.argmax(bad)])!r})",
                          "drop or fix those rows before selection")


def _contents(pool: Pool):
    """What the encoder reads, row by row: texts, images or feature vectors (these checked
    for NaN and inf)."""
    if pool.schema.modality == "text":
        return pool.texts()
    if pool.schema.modality == "vectors":
        vectors = pool.vectors()
        check_finite(vectors, f"column '{pool.schema.vectors}' of {pool.origin}", pool.ids)
        return vectors
    return pool.images()


def row_keys(contents) -> np.ndarray:
    """A content hash per row (32 hex digits): equal content, equal key, whatever the id."""
    if isinstance(contents, list):
        blobs = (text.encode() for text in contents)
    else:
        layout = f"{contents.dtype}{contents.shape[1:]}".encode()
        blobs = (layout + np.ascontiguousarray(row).tobytes() for row in contents)
    return np.array([hashlib.blake2b(b, digest_size=16).hexdigest() for b in blobs],
                    dtype="S32")


def _index(shards: Path) -> dict[bytes, tuple[str, int]]:
    """Row key -> (shard, row) over every complete shard of one encoder whose keys match
    their checksum. Rebuilt from the shards on each run rather than kept in a file, so it
    cannot disagree with them."""
    index: dict[bytes, tuple[str, int]] = {}
    for name in shard_files.usable(shards, vectors=False)[0]:
        for row, key in enumerate(np.load(shards / f"{name}.keys.npy").tolist()):
            index.setdefault(key, (name, row))
    return index


def _damaged(shards: Path, wanted: set[str], checked: set[str]) -> set[str]:
    """The shards of `wanted` that fail their full check (vectors too), now quarantined;
    `checked` collects the good ones, so no shard is hashed twice in a run."""
    bad = set()
    for name in sorted(wanted - checked):
        if (reason := shard_files.check(shards, name)) is None:
            checked.add(name)
        else:
            shard_files.quarantine(shards, name, reason)
            bad.add(name)
    return bad


def embed_pool(pool: Pool, cfg: EmbedConfig, cache: ArtifactCache,
               refresh: bool = False, executor: Executor | None = None) -> EmbeddingsRef:
    """Embed the rows whose content no shard holds yet (every row with `refresh`), shard by
    shard on `executor` (default: this process). A cached entry is verified on every run:
    a damaged shard must be re-embedded, not read."""
    return embed_stored_pool(pool.schema, pool.fingerprint, lambda: pool, cfg, cache, refresh,
                             executor)


def embed_stored_pool(schema: Schema, fingerprint: str, load: Callable[[], Pool],
                      cfg: EmbedConfig, cache: ArtifactCache, refresh: bool = False,
                      executor: Executor | None = None) -> EmbeddingsRef:
    """`embed_pool` for a pool that `load()` reads, only when a row must be embedded: the
    entry's key needs the schema and fingerprint alone, so a rerun reads no row."""
    parts = _encoder_parts(schema, cfg)
    shards = cache.entry(ROWS_STAGE, _encoder_key(parts))
    checked: set[str] = set()

    def compute(folder: Path) -> dict:
        pool = load()
        # The frame goes once its contents are out: a pool of vectors is not held twice.
        ids, origin, contents = pool.ids, pool.origin, _contents(pool)
        del pool
        names, stats = _embed_rows(contents, ids, schema.modality, origin, cfg, shards,
                                   checked, refresh, executor)
        del contents
        number = {name: i for i, name in enumerate(sorted({name for name, _ in names}))}
        with atomic_path(folder / "rows.npy") as tmp, open(tmp, "wb") as f:
            np.save(f, np.array([(number[n], r) for n, r in names], dtype=np.int64
                                ).reshape(-1, 2))
        first = next(iter(number), None)
        dim = np.load(shards / f"{first}.vectors.npy", mmap_mode="r").shape[1] if first else 0
        encoder = _encoder(schema.modality, cfg)
        ran = {"ran": encoder.describe()} if isinstance(encoder, TextEncoder) else {}
        return {"rows": len(ids), "dim": dim, "pool": fingerprint, "encoder": parts,
                "shards": list(number), **ran, **stats}

    entry = cached_stage(cache, STAGE, _embedding_key_parts(schema, fingerprint, cfg), compute,
                         refresh,
                         still_valid=lambda meta: not _damaged(shards, set(meta["shards"]),
                                                               checked))
    meta = entry.manifest
    stats = ({"rows_new": 0, "rows_cached": meta["rows"]} if entry.hit else
             {"rows_new": meta["rows_new"], "rows_cached": meta["rows_cached"]})
    return EmbeddingsRef(path=entry.folder, key=entry.key, cache_hit=entry.hit, shards=shards,
                         rows=meta["rows"], dim=meta["dim"], stats=stats)


def _embed_rows(contents, ids: np.ndarray, modality: str, origin: str, cfg: EmbedConfig,
                shards: Path, checked: set[str], refresh: bool, executor: Executor | None
                ) -> tuple[list[tuple[str, int]], dict]:
    """Embed the rows (`contents`: texts, images or vectors; `ids`: theirs) that no intact
    shard holds; returns (shard, row) of every row and the counts of new and cached rows."""
    keys = row_keys(contents)
    index = {} if refresh else _index(shards)
    reused = {index[k][0] for k in set(keys.tolist()) if k in index}
    if damaged := _damaged(shards, reused, checked):
        index = {k: at for k, at in index.items() if at[0] not in damaged}
    unseen = np.array([k not in index for k in keys.tolist()], dtype=bool)
    # Rows repeating an earlier row's content are embedded once.
    _, first = np.unique(keys, return_index=True)
    todo = np.sort(first[unseen[first]])
    jobs = [todo[start:start + cfg.shard_size] for start in range(0, len(todo), cfg.shard_size)]
    worker = functools.partial(shard_worker, modality, cfg)
    read = functools.partial(_payload, contents)
    with progress_bar(f"embed {origin}", total=len(todo)) as advance:
        for number, vectors in (executor or LocalExecutor()).map_shards(worker, jobs, read,
                                                                        advance):
            rows = jobs[number]
            check_finite(vectors, f"embeddings of {origin}", ids[rows])
            name = hashlib.blake2b(keys[rows].tobytes(), digest_size=16).hexdigest()
            shard_files.write_shard(shards, name, keys[rows], vectors.astype(np.float32))
            index.update({k: (name, i) for i, k in enumerate(keys[rows].tolist())})
    stats = {"rows_new": int(unseen.sum()), "rows_cached": int(len(keys) - unseen.sum())}
    return [index[k] for k in keys.tolist()], stats


def embedding_key_parts(pool: Pool, cfg: EmbedConfig) -> dict:
    return _encoder_parts(pool.schema, cfg)


def _encoder_parts(schema: Schema, cfg: EmbedConfig) -> dict:
    if schema.modality == "vectors":
        return {"vectors": schema.vectors}
    encoder = _encoder(schema.modality, cfg)
    return encoder.config_key() if isinstance(encoder, TextEncoder) else {
        "image_features": cfg.image_features}


def _payload(contents, rows: np.ndarray):
    """What one shard's worker reads: its texts, images or vectors (made when the shard is
    sent, so at most a few shards' images are copied at once)."""
    return [contents[i] for i in rows] if isinstance(contents, list) else contents[rows]


def shard_worker(modality: str, cfg: EmbedConfig):
    """`embed(payload, on_rows)` with the model loaded once: what an executor runs per
    shard, here or in a Ray actor (so it takes the settings, not a loaded model)."""
    encoder = _encoder(modality, cfg)

    def embed(payload, on_rows=None) -> np.ndarray:
        advance = on_rows or (lambda n: None)
        if encoder is None:  # vectors, or images as pixels: no model
            advance(len(payload))
            return l2_normalise(payload) if modality == "vectors" else pixel_vectors(payload)
        return encoder.encode(payload, on_batch=advance)

    return embed
