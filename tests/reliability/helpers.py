"""Tiny offline pools and configs for the fault-injection tests: feature-vector pools, so no
model loads and a run takes well under a second."""

from __future__ import annotations

import traceback
from pathlib import Path

import numpy as np
import polars as pl
import yaml
from typer.testing import CliRunner

from curate.cli import app

runner = CliRunner()


def vector_pool(path: Path, rows: int = 60, labels: list | None = None, seed: int = 0) -> Path:
    """`rows` 8-d vectors in 3 blobs, with a label column (or the given labels)."""
    rng = np.random.default_rng(seed)
    blob = np.arange(rows) % 3
    vectors = np.eye(8, dtype=np.float32)[blob] + rng.normal(scale=0.1, size=(rows, 8))
    labels = labels if labels is not None else [f"c{b}" for b in blob]
    pl.DataFrame({"id": [f"r{i:03d}" for i in range(rows)],
                  "vec": vectors.astype(np.float32).tolist(), "label": labels}
                 ).write_parquet(path)
    return path


def write_config(tmp_path: Path, data: dict | None = None, **sections) -> Path:
    data = data or {"path": str(vector_pool(tmp_path / "pool.parquet")),
                    "vector_column": "vec", "label_column": "label"}
    config = {"data": data, "cluster": {"k": 3, "niter": 5, "nredo": 1},
              "select": {"selector": "random", "budget": 12},
              "output": {"dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache")},
              **sections}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def invoke(*args) -> tuple[int, str, str]:
    """Exit code, stdout, stderr; an uncaught exception is appended to stderr as a
    traceback (the user would see one), so failures show it."""
    result = runner.invoke(app, list(map(str, args)))
    err = result.stderr
    if result.exc_info and not isinstance(result.exception, SystemExit):
        err += "".join(traceback.format_exception(*result.exc_info))
    return result.exit_code, result.stdout, err


def run_folders(tmp_path: Path) -> list[Path]:
    """The published run folders (names starting with a dot are in-progress staging; the
    `latest` link points at one of them)."""
    return sorted(p for p in (tmp_path / "runs").glob("*/*")
                  if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    assert err.startswith("error:") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err
