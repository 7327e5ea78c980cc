"""Defect 3: a damaged embedding-cache shard broke every later run (truncated vectors or keys,
a deleted shard) or was used silently (same-size garbage). Shards now carry checksums; one
that fails to load or verify is quarantined with one warning line and its rows re-embedded.
`curate cache verify` / `curate cache prune` check and clean a cache."""

import logging
import shutil

import numpy as np
import polars as pl
import pytest

import curate.embed as embed
from curate.config import DataConfig, EmbedConfig
from curate.data import load_pool
from curate.store import ArtifactCache

from .helpers import invoke, run_folders, vector_pool, write_config

CFG = EmbedConfig(shard_size=20)


def _pool(tmp_path, rows=60, name="pool.parquet"):
    return load_pool(DataConfig(path=vector_pool(tmp_path / name, rows=rows),
                                vector_column="vec", label_column="label"))


def _shard_files(ref, suffix):
    return sorted(ref.shards.glob(f"*{suffix}"))


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def same_size_garbage(path):
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(1)
    data[-400:] = rng.integers(0, 256, 400, dtype=np.uint8).tobytes()  # header stays valid
    path.write_bytes(bytes(data))


FAULTS = {
    "truncated vectors": (".vectors.npy", truncate),
    "truncated keys": (".keys.npy", truncate),
    "garbage vectors": (".vectors.npy", same_size_garbage),
    "garbage keys": (".keys.npy", same_size_garbage),
    "deleted vectors": (".vectors.npy", lambda p: p.unlink()),
    "deleted keys": (".keys.npy", lambda p: p.unlink()),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_damaged_shard_is_quarantined_and_re_embedded(tmp_path, fault, caplog):
    pool = _pool(tmp_path)
    cache = ArtifactCache(tmp_path / "cache")
    clean = embed.embed_pool(pool, CFG, cache).load()
    suffix, damage = FAULTS[fault]
    ref = embed.embed_pool(pool, CFG, cache)
    damage(_shard_files(ref, suffix)[1])
    with caplog.at_level(logging.WARNING):
        healed = embed.embed_pool(pool, CFG, cache)
    assert not healed.cache_hit and healed.stats == {"rows_new": 20, "rows_cached": 40}
    assert np.array_equal(healed.load(), clean)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "quarantined" in warnings[0].getMessage()
    assert len(list((ref.shards / "quarantine").iterdir())) >= 1
    # A grown pool on the same encoder reads every shard's keys: it works too.
    grown = _pool(tmp_path, rows=70, name="grown.parquet")
    assert embed.embed_pool(grown, CFG, cache).load().shape == (70, 8)


def test_a_garbage_shard_in_a_full_run_gives_the_clean_ids(tmp_path):
    config = write_config(tmp_path, embed={"shard_size": 20})
    assert invoke("select", config)[0] == 0
    clean = pl.read_parquet(run_folders(tmp_path)[0] / "selection.parquet")["id"].to_list()
    for path in sorted((tmp_path / "cache" / "embed-rows").rglob("*.vectors.npy")):
        same_size_garbage(path)
    for stage in ("embed", "cluster", "select", "assemble"):  # keep only the shards
        shutil.rmtree(tmp_path / "cache" / stage, ignore_errors=True)
    code, _, err = invoke("select", config)
    assert code == 0, err
    again = pl.read_parquet(run_folders(tmp_path)[-1] / "selection.parquet")["id"].to_list()
    assert again == clean


def test_cache_verify_and_prune(tmp_path):
    pool = _pool(tmp_path)
    cache_dir = tmp_path / "cache"
    ref = embed.embed_pool(pool, CFG, ArtifactCache(cache_dir))
    code, out, err = invoke("cache", "verify", cache_dir)
    assert code == 0, err
    assert "3 shards ok, 0 quarantined" in out
    same_size_garbage(_shard_files(ref, ".vectors.npy")[0])
    code, out, _ = invoke("cache", "verify", cache_dir)
    assert code == 1 and "2 shards ok, 1 quarantined" in out
    (ref.shards / ".leftover.npy.abc.tmp").mkdir()  # a crashed atomic write
    code, out, err = invoke("cache", "prune", cache_dir, "--older-than", "0")
    assert code == 0, err
    assert "removed 2 " in out
    assert not (ref.shards / "quarantine").exists()
    assert not (ref.shards / ".leftover.npy.abc.tmp").exists()
    assert len(_shard_files(ref, ".vectors.npy")) == 2
    # The next run re-embeds what was quarantined and is whole again.
    assert embed.embed_pool(pool, CFG, ArtifactCache(cache_dir)).stats["rows_new"] == 20


def test_verify_of_a_missing_cache_is_one_line(tmp_path):
    code, _, err = invoke("cache", "verify", tmp_path / "nope")
    assert code == 2 and err.startswith("error:") and err.count("\n") == 1, err
