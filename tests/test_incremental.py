"""Reruns over a source that has grown embed only the new rows and stay deterministic."""

import json
import random
import shutil

import polars as pl

from curate.config_load import parse_config
from curate.run import run_curation


def _config(tmp_path, pool, cache):
    return parse_config({
        "data": {"path": str(pool), "id_column": "uid", "text_column": "gloss",
                 "label_column": "topic"},
        "embed": {"shard_size": 64},
        "cluster": {"k": 8, "niter": 10, "nredo": 1},
        "select": {"selector": "kmq", "budget": "3 per label"},
        "output": {"dir": str(tmp_path / "runs"), "cache_dir": str(cache)},
        "run": {"name": "grow", "seed": 5}})


def _embed_stats(run_dir) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())["stages"]["embed"]


def test_grown_jsonl_embeds_only_new_rows(tmp_path, glosses_jsonl):
    lines = glosses_jsonl.read_text().splitlines(keepends=True)
    random.Random(0).shuffle(lines)  # the file is sorted by label; mix the labels
    pool = tmp_path / "grow.jsonl"
    pool.write_text("".join(lines[:250]))
    first = run_curation(_config(tmp_path, pool, tmp_path / "cache"))
    assert _embed_stats(first)["rows_new"] == 250
    shutil.copytree(tmp_path / "cache", tmp_path / "cache-copy")

    pool.write_text("".join(lines[:275]))  # 10% more rows appended
    grown = [run_curation(_config(tmp_path, pool, tmp_path / cache))
             for cache in ("cache", "cache-copy")]
    for run_dir in grown:
        stats = _embed_stats(run_dir)
        assert (stats["rows_new"], stats["rows_cached"], stats["cache_hit"]) == (25, 250, False)
    # Two independent caches with the same history give the same selection, byte for byte.
    selected = [pl.read_parquet(d / "selection.parquet")["id"].to_list() for d in grown]
    assert selected[0] == selected[1] and len(selected[0]) == 9
    again = run_curation(_config(tmp_path, pool, tmp_path / "cache"))
    assert _embed_stats(again)["rows_new"] == 0 and _embed_stats(again)["cache_hit"]
    assert pl.read_parquet(again / "selection.parquet")["id"].to_list() == selected[0]
