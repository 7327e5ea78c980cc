"""Defect 1: null labels crashed the hand-off after the run folder was published, and export
accepted the half-written folder. A run folder now appears only once hand-off and report are
in it, and null-label rows are dropped at load with a count in the manifest."""

import json

import polars as pl
import pytest

import curate.run
from curate.config_load import parse_config
from curate.errors import CurateError
from curate.hub import export_run
from curate.run import run_curation

from .helpers import invoke, run_folders, vector_pool, write_config


def test_null_labels_are_dropped_with_a_count(tmp_path):
    labels = [None if i % 5 == 0 else f"c{i % 3}" for i in range(60)]
    data = {"path": str(vector_pool(tmp_path / "pool.parquet", labels=labels)),
            "vector_column": "vec", "label_column": "label"}
    code, _out, err = invoke("select", write_config(tmp_path, data))
    assert code == 0, err
    run_dir = run_folders(tmp_path)[0]
    assert {"handoff.json", "report.md"} <= {p.name for p in run_dir.iterdir()}
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["stages"]["load"]["rows_dropped"] == {"null_label": 12}
    assert manifest["pool"]["rows"] == 48
    subset = pl.read_parquet(run_dir / "subset" / "subset.parquet")
    assert subset["label"].null_count() == 0 and subset.height == 12
    spec = json.loads((run_dir / "handoff.json").read_text())
    assert spec["labels"] == ["c0", "c1", "c2"]
    assert "12 rows dropped (null_label)" in (run_dir / "report.md").read_text()


def test_all_labels_null_is_one_line_error(tmp_path):
    data = {"path": str(vector_pool(tmp_path / "pool.parquet", labels=[None] * 60)),
            "vector_column": "vec", "label_column": "label"}
    code, _, err = invoke("select", write_config(tmp_path, data))
    assert code == 2 and "has a label in column" in err and err.count("\n") == 1, err


def test_a_failing_hand_off_publishes_no_run_folder(tmp_path, monkeypatch):
    def broken(*_args):
        raise RuntimeError("injected hand-off failure")

    monkeypatch.setattr(curate.run, "hand_off", broken)
    with pytest.raises(RuntimeError, match="injected"):
        run_curation(parse_config({
            "data": {"path": str(vector_pool(tmp_path / "pool.parquet")), "vector_column": "vec",
                     "label_column": "label"},
            "select": {"selector": "random", "budget": 12},
            "output": {"dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache")}}))
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.json"))


def test_export_refuses_a_folder_without_its_hand_off(tmp_path):
    code, _out, err = invoke("select", write_config(tmp_path))
    assert code == 0, err
    run_dir = run_folders(tmp_path)[0]
    (run_dir / "handoff.json").unlink()
    with pytest.raises(CurateError, match="incomplete run folder"):
        export_run(run_dir, "user/name", dry_run=tmp_path / "out")
