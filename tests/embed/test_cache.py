from pathlib import Path

import numpy as np
import polars as pl
import pytest

import curate.embed as embed
from curate.config import DataConfig, EmbedConfig
from curate.data import load_pool
from curate.errors import CurateError
from curate.store import ArtifactCache


def _pool(path, frame):
    frame.write_parquet(path)
    return load_pool(DataConfig(path=path, text_column="text", label_column="label"))


@pytest.fixture
def pool(tmp_path, glosses):
    return _pool(tmp_path / "p.parquet", glosses.head(50))


def _recording(monkeypatch) -> list[list[str]]:
    """Patch the shard worker to record the texts of each shard it embeds."""
    calls = []
    original = embed.shard_worker

    def recording(modality, cfg):
        worker = original(modality, cfg)
        return lambda texts, on_rows=None: calls.append(list(texts)) or worker(texts, on_rows)

    monkeypatch.setattr(embed, "shard_worker", recording)
    return calls


def test_cache_hit_and_resume_from_shards(tmp_path, pool, monkeypatch):
    cache = ArtifactCache(tmp_path / "cache")
    cfg = EmbedConfig(shard_size=20, precision="fp32")
    first = embed.embed_pool(pool, cfg, cache)
    assert not first.cache_hit and first.load().shape == (50, 384)
    assert first.stats == {"rows_new": 50, "rows_cached": 0}
    again = embed.embed_pool(pool, cfg, cache)
    assert again.cache_hit and again.stats == {"rows_new": 0, "rows_cached": 50}

    # A crash after two of three shards: only the missing shard is embedded again.
    (first.path / "manifest.json").unlink()
    last = embed.row_keys(pool.texts()[40:])
    (shard,) = [p for p in first.shards.glob("*.keys.npy")
                if np.array_equal(np.load(p), last)]
    Path(str(shard).replace(".keys.npy", ".vectors.npy")).unlink()
    calls = _recording(monkeypatch)
    resumed = embed.embed_pool(pool, cfg, cache)
    assert calls == [pool.texts()[40:50]] and not resumed.cache_hit
    assert resumed.stats == {"rows_new": 10, "rows_cached": 40}
    assert np.array_equal(resumed.load(), first.load())


def test_grown_pool_embeds_only_new_rows(tmp_path, glosses, monkeypatch):
    """Rows seen before come from their shards, in any order and under any id."""
    cache = ArtifactCache(tmp_path / "cache")
    cfg = EmbedConfig(shard_size=16, precision="fp32")
    old = glosses.head(40)
    old_pool = _pool(tmp_path / "old.parquet", old)
    old_ref = embed.embed_pool(old_pool, cfg, cache)
    grown = pl.concat([glosses.slice(40, 4), old.reverse(), glosses.slice(44, 2)])
    calls = _recording(monkeypatch)
    grown_pool = _pool(tmp_path / "grown.parquet", grown)  # rows in id order
    ref = embed.embed_pool(grown_pool, cfg, cache)
    seen = np.isin(grown_pool.ids, old_pool.ids)
    texts = grown_pool.texts()
    assert calls == [[texts[i] for i in np.flatnonzero(~seen)]] and (~seen).sum() == 6
    assert ref.stats == {"rows_new": 6, "rows_cached": 40}
    vectors = ref.load()
    where = {i: n for n, i in enumerate(old_pool.ids)}
    assert np.array_equal(vectors[seen], old_ref.load()[[where[i] for i in grown_pool.ids[seen]]])
    fresh = embed.embed_pool(_pool(tmp_path / "grown.parquet", grown), cfg,
                             ArtifactCache(tmp_path / "fresh"))
    assert np.allclose(vectors, fresh.load(), atol=1e-5)


def test_repeated_content_is_embedded_once(tmp_path, glosses, monkeypatch):
    frame = glosses.head(3).with_columns(pl.Series("text", ["same", "other", "same"]))
    calls = _recording(monkeypatch)
    ref = embed.embed_pool(_pool(tmp_path / "r.parquet", frame), EmbedConfig(),
                           ArtifactCache(tmp_path / "c"))
    vectors = ref.load()
    assert calls == [["same", "other"]] and np.array_equal(vectors[0], vectors[2])


def test_key_changes_with_settings(pool):
    base = embed.embedding_key(pool, EmbedConfig())
    assert base == embed.embedding_key(pool, EmbedConfig(batch_size=7))  # batching is not content
    for change in ({"max_length": 64}, {"pooling": "cls"}, {"precision": "fp32"}):
        if change == {"precision": "fp32"} and "float32" in str(
                embed.embedding_key_parts(pool, EmbedConfig())["precision"]):
            continue  # on a CPU without bf16, auto already means fp32
        assert embed.embedding_key(pool, EmbedConfig(**change)) != base


def test_nan_vectors_are_rejected(tmp_path):
    path = tmp_path / "v.parquet"
    pl.DataFrame({"id": ["a", "b"], "vec": [[1.0, 0.0], [float("nan"), 1.0]]}).write_parquet(path)
    pool = load_pool(DataConfig(path=path, vector_column="vec"))
    with pytest.raises(CurateError, match="1 rows with NaN or inf values"):
        embed.embed_pool(pool, EmbedConfig(), ArtifactCache(tmp_path / "c"))


def test_pixels_are_unit_vectors(tmp_path):
    pool = load_pool(DataConfig(source="builtin:digits"))
    ref = embed.embed_pool(pool, EmbedConfig(), ArtifactCache(tmp_path / "c"))
    vectors = ref.load()
    assert vectors.shape == (1797, 64)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
