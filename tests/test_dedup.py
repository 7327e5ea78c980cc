"""Dedup stage (issue 14): exact duplicates by normalised content, near duplicates by
embedding cosine, one row per group by the keep rule, counts in manifest and report."""

import json

import numpy as np
import polars as pl
import pytest

from curate.config_load import parse_config
from curate.data.pool import Pool, Schema
from curate.dedup import find_duplicates, near_duplicates, near_pairs
from curate.errors import CurateError
from curate.run import run_curation


def text_pool(texts, **columns) -> Pool:
    frame = pl.DataFrame({"id": [f"r{i:02d}" for i in range(len(texts))], "text": texts,
                          **columns})
    return Pool(frame=frame, schema=Schema(text="text", label="label" if "label" in columns
                                           else None), origin="test")


def test_exact_duplicates_compare_normalised_text():
    pool = text_pool(["Hello  world", "other", "hello world", " HELLO\tworld ", "Ｈello world",
                      "hello worlds"])
    found = find_duplicates(pool, exact=True, near=None, keep="first")
    assert found.keep.tolist() == [True, True, False, False, False, True]
    assert found.kept_by[~found.keep].tolist() == [0, 0, 0]
    assert found.counts() == {"exact": 3, "near": 0, "label_conflicts": 0}
    table = found.table(pool)
    assert table["duplicate_of"].to_list() == ["r00"] * 3
    assert set(table["reason"]) == {"duplicate"}


def test_keep_rule_highest_column_and_label_conflicts():
    pool = text_pool(["a", "a", "a", "b"], quality=[0.1, 0.9, None, 0.5],
                     label=["x", "y", "x", "x"])
    found = find_duplicates(pool, exact=True, near=None, keep="quality")
    assert found.keep.tolist() == [False, True, False, True]
    assert found.label_conflicts == 1
    with pytest.raises(CurateError, match=r"dedup\.keep 'nope'"):
        find_duplicates(pool, exact=True, near=None, keep="nope")


def test_prompt_response_rows_are_equal_only_when_both_are():
    frame = pl.DataFrame({"id": ["a", "b", "c"], "p": ["Hi", "hi ", "hi"],
                          "r": ["there", "There", "you"]})
    pool = Pool(frame=frame, schema=Schema(prompt="p", response="r"), origin="t")
    assert find_duplicates(pool, True, None, "first").keep.tolist() == [True, False, True]


def test_near_greedy_keeps_the_ends_of_a_chain():
    # a~b and b~c above 0.9, a and c apart: b goes, a and c both stay.
    angle = np.deg2rad([0, 20, 40, 90])
    x = np.stack([np.cos(angle), np.sin(angle)], 1).astype(np.float32)
    keep, kept_by, cosine = near_duplicates(x, 0.9, rank=np.arange(4))
    assert keep.tolist() == [True, False, True, True]
    assert kept_by[1] == 0 and cosine[1] == pytest.approx(np.cos(np.deg2rad(20)), abs=1e-5)
    # Ranked the other way the middle row is kept and the two ends go.
    keep, _, _ = near_duplicates(x, 0.9, rank=np.array([3, 0, 2, 1]))
    assert keep.tolist() == [False, True, False, True]


def test_near_pairs_match_brute_force_across_chunks():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    lims, found, sims = near_pairs(x, 0.8, chunk=37)
    gram = x @ x.T
    np.fill_diagonal(gram, -1)
    for i in range(len(x)):
        assert sorted(found[lims[i]:lims[i + 1]].tolist()) == np.flatnonzero(gram[i] > 0.8).tolist()
    assert np.allclose(sims, gram[np.repeat(np.arange(300), np.diff(lims)), found], atol=1e-5)


def planted_pool(path, seed=0):
    """40 distinct 16-d vectors, 10 exact copies and 10 near copies (cosine > 0.99)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(40, 16)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    exact = base[:10]
    near = base[10:20] + rng.normal(scale=0.01, size=(10, 16)).astype(np.float32)
    vectors = np.concatenate([base, exact, near])
    origin = list(range(40)) + list(range(10)) + list(range(10, 20))
    pl.DataFrame({"id": [f"r{i:03d}" for i in range(60)], "vec": vectors.tolist(),
                  "origin": origin, "label": [f"c{o % 2}" for o in origin]}).write_parquet(path)
    return path


@pytest.mark.parametrize("selector", ["kmq", "random"])
def test_a_run_never_selects_two_copies_and_counts_them(tmp_path, selector):
    cfg = parse_config({
        "data": {"path": str(planted_pool(tmp_path / "pool.parquet")), "vector_column": "vec",
                 "label_column": "label"},
        "dedup": {"near": 0.95},
        "cluster": {"k": 4, "niter": 5, "nredo": 1},
        "select": {"selector": selector, "budget": 40, "stratify": False},
        "output": {"dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache")}})
    run_dir = run_curation(cfg)
    subset = pl.read_parquet(run_dir / "subset" / "subset.parquet")
    assert subset.height == 40 and subset["origin"].n_unique() == 40
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["pool"]["rows"] == 60
    assert manifest["dedup"] == {"rows_in": 60, "rows_out": 40, "exact": 10, "near": 10,
                                 "label_conflicts": 0, "keep": "first", "near_threshold": 0.95}
    assert "10 exact and 10 near duplicates dropped" in (run_dir / "report.md").read_text()
    dropped = pl.read_parquet(run_dir / "dropped.parquet")
    assert sorted(dropped["id"].to_list()) == [f"r{i:03d}" for i in range(40, 60)]
    assert dropped["reason"].value_counts().sort("reason").rows() == [
        ("duplicate", 10), ("near-duplicate", 10)]
    assert dropped["duplicate_of"].to_list() == [f"r{i:03d}" for i in range(20)]
    assert not set(dropped["id"]) & set(subset["id"])


def test_exact_dedup_is_on_by_default_and_near_is_off(tmp_path):
    cfg = parse_config({
        "data": {"path": str(planted_pool(tmp_path / "pool.parquet")), "vector_column": "vec"},
        "select": {"selector": "random", "budget": 50},
        "output": {"dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache")}})
    manifest = json.loads((run_curation(cfg) / "manifest.json").read_text())
    assert (manifest["dedup"]["exact"], manifest["dedup"]["near"]) == (10, 0)
    assert manifest["stages"]["dedup"]["rows_out"] == 50
    again = json.loads((run_curation(cfg) / "manifest.json").read_text())
    assert again["stages"]["dedup"]["cache_hit"] and again["dedup"] == manifest["dedup"]
