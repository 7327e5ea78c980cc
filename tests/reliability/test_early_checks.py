"""Issue 11 risk: budget and label errors surfaced only after load, embed and cluster (minutes
on a big pool). They are checked right after load: the embed stage never starts."""

import polars as pl
import pytest

import curate.run

from .helpers import assert_one_line_error, invoke, run_folders, vector_pool, write_config


@pytest.fixture
def no_embedding(monkeypatch):
    def embed_stage(*_args):
        raise AssertionError("the embed stage started before the budget was checked")

    monkeypatch.setattr(curate.run, "embed_stage", embed_stage)


@pytest.mark.parametrize(("select", "fragment"), [
    ({"budget": 500}, "larger than the pool (60 rows)"),
    ({"budget": "30 per label"}, "label"),
    ({"budget": 12, "stratify": True}, "no label column"),
    ({"budget": "0.1%"}, "is 0 rows"),
])
def test_a_bad_budget_fails_before_embedding(tmp_path, no_embedding, select, fragment):
    path = vector_pool(tmp_path / "pool.parquet")
    if "stratify" in select:  # a pool without labels
        pl.read_parquet(path).drop("label").write_parquet(path)
    data = {"path": str(path), "vector_column": "vec"}
    config = write_config(tmp_path, data, select={"selector": "random", **select})
    code, _out, err = invoke("select", config)
    assert_one_line_error(code, err, fragment)
    assert not run_folders(tmp_path)


def test_a_good_budget_still_runs(tmp_path):
    code, _out, err = invoke("select", write_config(tmp_path))
    assert code == 0, err
    assert len(run_folders(tmp_path)) == 1


def test_curate_run_on_a_missing_data_file_is_one_line_before_prefect(tmp_path):
    """As a user runs it: a fresh process, stderr as Prefect would write it (no test runner
    muting its logs); the missing file is found before any flow starts."""
    import os
    import subprocess
    import sys

    config = write_config(tmp_path, {"path": str(tmp_path / "missing.jsonl")})
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run([sys.executable, "-m", "curate.cli", "run", str(config)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert_one_line_error(done.returncode, done.stderr, "data file not found", "data.path")
    assert "Flow run" not in done.stderr and not run_folders(tmp_path)
