import numpy as np
import polars as pl
import pytest

import curate.embed as embed
from curate.config import DataConfig, EmbedConfig
from curate.data import load_pool
from curate.errors import CurateError
from curate.store import ArtifactCache


@pytest.fixture
def pool(tmp_path, glosses):
    path = tmp_path / "p.parquet"
    glosses.head(50).write_parquet(path)
    return load_pool(DataConfig(path=path, text_column="text", label_column="label"))


def test_cache_hit_and_resume_from_shards(tmp_path, pool, monkeypatch):
    cache = ArtifactCache(tmp_path / "cache")
    cfg = EmbedConfig(shard_size=20, precision="fp32")
    first = embed.embed_pool(pool, cfg, cache)
    assert not first.cache_hit and first.load().shape == (50, 384)
    assert embed.embed_pool(pool, cfg, cache).cache_hit

    # A crash after two of three shards: only the missing shard is embedded again.
    (first.folder / "manifest.json").unlink()
    (first.folder / "shard-00002.npy").unlink()
    calls = []
    original = embed._embed_rows
    monkeypatch.setattr(embed, "_embed_rows",
                        lambda p, rows, e, a: calls.append(rows) or original(p, rows, e, a))
    resumed = embed.embed_pool(pool, cfg, cache)
    assert calls == [slice(40, 60)] and not resumed.cache_hit
    assert np.array_equal(resumed.load(), first.load())


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
