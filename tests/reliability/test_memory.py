"""Issue 27, defect 6: memory near the array. A 300k x 384 vector pool peaked at several
times its array: the embed stage read the whole pool (vector column included) just to find
its cache entry, so a fully cached rerun did too; the report read the pool with its vectors
and every embedding to draw a map of a sample.
Peak RSS itself is measured by `python benchmarks/memory.py` (benchmarks/memory.md); here,
on a small pool, what each command reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from curate.embed import EmbeddingsRef
from tests.reliability.helpers import invoke, run_folders, vector_pool, write_config

ROWS = 6_000  # over the map's 5,000-point sample


@pytest.fixture
def reads(monkeypatch):
    """Every pool parquet read (columns, None for all) and every whole-matrix load."""
    seen: dict[str, list] = {"pool": [], "matrix": [], "rows": []}
    read_parquet, load_rows = pl.read_parquet, EmbeddingsRef.load_rows

    def spy_parquet(source, *args, **kwargs):
        if Path(source).name == "pool.parquet":
            seen["pool"].append(kwargs.get("columns"))
        return read_parquet(source, *args, **kwargs)

    def spy_load(self):
        seen["matrix"].append(self.rows)
        return load_rows(self, np.arange(self.rows))

    def spy_rows(self, rows):
        seen["rows"].append(len(rows))
        return load_rows(self, rows)

    def start():
        monkeypatch.setattr(pl, "read_parquet", spy_parquet)
        monkeypatch.setattr(EmbeddingsRef, "load", spy_load)
        monkeypatch.setattr(EmbeddingsRef, "load_rows", spy_rows)
        return seen

    return start


def _first_run(tmp_path: Path) -> Path:
    data = {"path": str(vector_pool(tmp_path / "vectors.parquet", rows=ROWS)),
            "vector_column": "vec", "label_column": "label"}
    # kmq over the whole pool (no stratification): the cluster stage runs and is cached too
    config = write_config(tmp_path, data, select={"selector": "kmq", "budget": 30,
                                                  "stratify": False})
    code, _, err = invoke("select", config)
    assert code == 0, err
    return config


def _no_vectors(columns_read: list) -> bool:
    return all(columns is not None and "vec" not in columns for columns in columns_read)


def test_a_cached_rerun_reads_no_vector_column_and_no_matrix(tmp_path, reads):
    config = _first_run(tmp_path)
    seen = reads()
    code, _, err = invoke("select", config)
    assert code == 0, err
    assert len(run_folders(tmp_path)) == 2
    assert _no_vectors(seen["pool"]), seen["pool"]
    assert not seen["matrix"], "a cached rerun loaded the whole embedding matrix"


def test_the_report_reads_small_columns_and_the_rows_it_draws(tmp_path, reads):
    _first_run(tmp_path)
    run_dir = run_folders(tmp_path)[0]
    seen = reads()
    code, _, err = invoke("report", run_dir)
    assert code == 0, err
    html = (run_dir / "report.html").read_text()
    assert "Map: pool" in html and "map_plot left out" not in html
    assert _no_vectors(seen["pool"]) and seen["pool"], seen["pool"]
    assert not seen["matrix"], "the report loaded every embedding for a map of a sample"
    assert sum(seen["rows"]) <= 5_000 + 30  # the map's sample and the selected rows

