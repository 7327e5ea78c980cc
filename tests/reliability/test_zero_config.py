"""Issue 26: `curate select DATA --budget ... --text ... --label ...` runs without a config,
and its run folder holds the config it used."""

import json

import numpy as np
import polars as pl
import pytest
import yaml

from curate.config_load import data_origin, load_config_or_data
from tests.reliability.helpers import assert_one_line_error, invoke, vector_pool


def _jsonl(path, rows=60):
    rng = np.random.default_rng(0)
    words = ["river", "stone", "cloud", "engine", "violin", "garden"]
    with path.open("w") as f:
        for i in range(rows):
            label = ["nature", "music", "tools"][i % 3]
            text = f"{label} " + " ".join(rng.choice(words, 5))
            f.write(json.dumps({"text": text, "label": label}) + "\n")
    return path


def test_select_a_jsonl_without_a_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _jsonl(tmp_path / "pool.jsonl")
    code, out, err = invoke("select", "pool.jsonl", "--budget", "10%", "--text", "text",
                            "--label", "label")
    assert code == 0, err
    run_dir = tmp_path / out.strip()
    used = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert used["data"]["path"] == str(tmp_path / "pool.jsonl")
    assert (used["data"]["text_column"], used["data"]["label_column"]) == ("text", "label")
    assert used["select"]["budget"] == "10%"
    # Unset output folders are the shell's, written absolute: the file means the same
    # folders when run again from anywhere.
    assert (used["output"]["dir"], used["output"]["cache_dir"]) == \
        (str(tmp_path / "runs"), str(tmp_path / ".curate-cache"))
    subset = pl.read_parquet(run_dir / "subset" / "subset.parquet")
    assert subset.height == 6 and subset["label"].value_counts()["count"].to_list() == [2, 2, 2]


def test_flags_are_literal_and_set_still_wins(tmp_path, monkeypatch):
    """A column named like a YAML value (`yes`, `1`) stays a string; --set comes last."""
    monkeypatch.chdir(tmp_path)
    vector_pool(tmp_path / "pool.parquet")
    cfg = load_config_or_data("pool.parquet", overrides=["select.budget=7"],
                              settings={"data.label_column": "yes", "select.budget": 12,
                                        "data.vector_column": "vec"})
    assert cfg.data.label_column == "yes" and cfg.select.budget == 7
    assert cfg.data.path == tmp_path / "pool.parquet"


def test_a_yaml_argument_is_still_a_config(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"data": {"source": "builtin:digits"},
                                      "select": {"budget": 5}}))
    cfg = load_config_or_data(str(config), settings={"select.budget": 9})
    assert cfg.data.source == "builtin:digits" and cfg.select.budget == 9


@pytest.mark.parametrize(("entry", "origin"), [("builtin:digits", "source"),
                                                ("someone/dataset", "source")])
def test_origin_of_names_that_are_not_files(entry, origin):
    assert data_origin(entry) == {origin: entry}


def test_a_missing_column_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _jsonl(tmp_path / "pool.jsonl")
    code, _out, err = invoke("select", "pool.jsonl", "--text", "body")
    assert_one_line_error(code, err, "body")


def test_bench_takes_the_pool_as_its_argument(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _jsonl(tmp_path / "pool.jsonl", rows=90)
    code, _out, err = invoke("bench", "pool.jsonl", "--selectors", "random", "--budgets", "9",
                            "--seeds", "1", "--out", tmp_path / "bench")
    assert code == 0, err
    results = pl.read_parquet(tmp_path / "bench" / "results.parquet")
    assert set(results["dataset"]) == {"pool.jsonl"} and "random" in set(results["selector"])
    assert f"results: {tmp_path / 'bench' / 'results.html'}" in err.replace("\n", "")
