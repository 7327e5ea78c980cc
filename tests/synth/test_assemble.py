"""Assemble (stage 7) and the synthesize -> assemble wiring of a run."""

import json

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from curate.config_load import parse_config
from curate.data import Schema
from curate.run import run_curation
from curate.synth import GENERATORS
from curate.synth.assemble import assemble, even_split, synthetic_caps

SCHEMA = Schema(text="text", label="label")


def real_rows():
    return pl.DataFrame({"id": ["r1", "r2", "r3", "r4"], "curate_selector": ["random"] * 4,
                         "text": ["a", "b", "c", "d"], "label": ["x", "x", "y", "y"]})


def synthetic_rows(texts, labels):
    n = len(texts)
    return pl.DataFrame({"id": [f"synth-{i}" for i in range(n)], "source": ["toy"] * n,
                         "parent_id": [None] * n, "reason": ["toy"] * n,
                         "text": texts, "label": labels})


def test_dedup_drops_copies_of_real_rows_and_of_earlier_synthetic_rows():
    synth = synthetic_rows(["a", "e", "e", "f", "g", "h"], ["x", "x", "x", "x", "y", "y"])
    subset, stats = assemble(real_rows(), synth, SCHEMA, balance=False)
    kept = subset.filter(pl.col("curate_source") == "toy")
    assert kept["text"].to_list() == ["e", "f", "g", "h"]
    assert stats["duplicates"] == 2 and stats["synthetic"] == 4
    assert subset.filter(pl.col("curate_source") == "pool")["id"].to_list() == [
        "r1", "r2", "r3", "r4"]
    assert kept["curate_selector"].is_null().all()
    assert subset["curate_parent_id"].is_null().all()


def test_balance_and_budgets():
    synth = synthetic_rows(["e", "f", "g", "h", "i"], ["x", "x", "x", "y", "y"])
    _, balanced = assemble(real_rows(), synth, SCHEMA)
    assert balanced["synthetic_per_label"] == {"x": 2, "y": 2}
    _, per_label = assemble(real_rows(), synth, SCHEMA, budget="1 per label")
    assert per_label["synthetic_per_label"] == {"x": 1, "y": 1}
    subset, count = assemble(real_rows(), synth, SCHEMA, budget=3, balance=False)
    assert count["synthetic_per_label"] == {"x": 2, "y": 1}  # 3 split evenly, ties to x
    assert subset.filter(pl.col("curate_source") == "toy")["text"].to_list() == ["e", "f", "h"]
    _, none_for_y = assemble(real_rows(), synthetic_rows(["e"], ["x"]), SCHEMA)
    assert none_for_y["synthetic"] == 0  # y got nothing, so balance keeps nothing
    subset, empty = assemble(real_rows(), None, SCHEMA)
    assert subset.height == 4 and empty == {"synthetic": 0}


def test_synthetic_caps_fraction_of_generated():
    assert synthetic_caps("50%", {"x": 4, "y": 2}) == {"x": 2, "y": 1}
    assert synthetic_caps(None, {"x": 4}) == {"x": 4}


@given(st.integers(0, 60), st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 20),
                                          min_size=1))
def test_even_split_is_water_filling(total, available):
    caps = even_split(total, available)
    assert sum(caps.values()) == min(total, sum(available.values()))
    assert all(0 <= caps[k] <= available[k] for k in available)
    unsaturated = [caps[k] for k in caps if caps[k] < available[k]]
    if unsaturated:  # nobody below the cap has fewer than anyone else minus one
        assert max(caps.values()) - min(unsaturated) <= 1


@pytest.mark.slow
def test_run_with_a_generator_writes_synthetic_rows_into_the_subset(tmp_path, monkeypatch):
    monkeypatch.setitem(GENERATORS, "jitter", "tests.synth.test_base:JitterGenerator")
    cfg = parse_config({
        "data": {"source": "builtin:digits", "sample": 300},
        "select": {"selector": "random", "budget": "3 per label"},
        "synth": {"generator": "jitter", "per_label": 4, "budget": "2 per label",
                  "params": {"scale": 0.05}},
        "output": {"dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache")},
        "run": {"name": "synth", "seed": 1}})
    run_dir = run_curation(cfg)
    subset = pl.read_parquet(run_dir / "subset" / "subset.parquet")
    synthetic = subset.filter(pl.col("curate_source") == "jitter")
    assert subset.filter(pl.col("curate_source") == "pool").height == 30
    assert synthetic.height == 20 and synthetic["id"].str.starts_with("synth-").all()
    assert set(synthetic["curate_parent_id"]) <= set(subset["id"])  # parents are selected rows
    assert np.all(synthetic.group_by("label").len()["len"].to_numpy() == 2)
    assert pl.read_parquet(run_dir / "synthetic.parquet").height == 40
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["subset"]["synthetic"] == 20 and manifest["synth"]["generator"] == "jitter"
    assert {"synthesize", "assemble"} <= set(manifest["stages"])
    again = json.loads((run_curation(cfg) / "manifest.json").read_text())
    assert again["cache_hits"] and again["subset"]["fingerprint"] == \
        manifest["subset"]["fingerprint"]
