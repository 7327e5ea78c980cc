"""Defect 1: the user's own columns were lost. A pool with its own `source`, `reason`,
`selector` or `parent_id` column had them renamed (`selector_right`), dropped from the Hub
export, or replaced (`curate.select`'s `reason`); with `data.id_column: key`, the user's
`id` was overwritten. curate's bookkeeping now has names of its own (`curate_*`); the one
clash that cannot be avoided (the row id `id`) is refused at load in one line."""

import io

import numpy as np
import polars as pl
import pytest

import curate

from .helpers import assert_one_line_error, invoke, run_folders, vector_pool, write_config

OWN = ("source", "reason", "selector", "parent_id")


def own_columns_pool(path, id_column: str = "id"):
    """The helpers' vector pool plus columns named like curate's bookkeeping."""
    frame = pl.read_parquet(vector_pool(path))
    frame = frame.with_columns(*(pl.format(f"user {name} {{}}", "id").alias(name)
                                 for name in OWN))
    if id_column != "id":
        frame = frame.rename({"id": id_column})
    frame.write_parquet(path)
    return frame


def data(tmp_path, **extra):
    return {"path": str(tmp_path / "pool.parquet"), "vector_column": "vec",
            "label_column": "label", **extra}


def test_subset_and_export_keep_the_users_columns(tmp_path):
    pool = own_columns_pool(tmp_path / "pool.parquet")
    code, _, err = invoke("select", write_config(tmp_path, data(tmp_path)))
    assert code == 0, err
    run_dir = run_folders(tmp_path)[0]
    subset = pl.read_parquet(run_dir / "subset" / "subset.parquet")
    assert not [c for c in subset.columns if c.endswith("_right")]
    chosen = pool.join(subset.select("id"), on="id", how="semi")
    assert subset.select(pool.columns).sort("id").equals(chosen.sort("id"))
    assert set(subset["curate_selector"]) == {"random"}
    assert set(subset["curate_source"]) == {"pool"}
    out = tmp_path / "export"
    code, _, err = invoke("export", run_dir, "--repo", "alice/x", "--dry-run", out)
    assert code == 0, err
    shards = sorted((out / "data").glob("*.parquet"))
    uploaded = pl.concat([pl.read_parquet(io.BytesIO(p.read_bytes())) for p in shards])
    assert uploaded.columns == pool.columns  # every user column, none of curate's
    assert uploaded.sort("id").equals(chosen.sort("id"))


def test_an_own_id_column_with_a_user_id_column_is_refused(tmp_path):
    own_columns_pool(tmp_path / "pool.parquet")
    pl.read_parquet(tmp_path / "pool.parquet").with_columns(
        pl.format("k{}", "id").alias("key")).write_parquet(tmp_path / "pool.parquet")
    code, _, err = invoke("select", write_config(tmp_path, data(tmp_path, id_column="key")))
    assert_one_line_error(code, err, "'id'", "data.id_column")
    assert not run_folders(tmp_path)


def test_an_own_id_column_without_an_id_column_keeps_every_column(tmp_path):
    pool = own_columns_pool(tmp_path / "pool.parquet", id_column="key")
    code, _, err = invoke("select", write_config(tmp_path, data(tmp_path, id_column="key")))
    assert code == 0, err
    subset = pl.read_parquet(run_folders(tmp_path)[0] / "subset" / "subset.parquet")
    assert subset["id"].to_list() == subset["key"].to_list()
    assert subset.select(pool.columns).sort("key").equals(
        pool.join(subset.select("key"), on="key", how="semi").sort("key"))


@pytest.mark.parametrize("name", ["curate_selector", "curate_source", "curate_parent_id",
                                  "curate_reason"])
def test_a_column_named_like_curates_bookkeeping_is_refused(tmp_path, name):
    frame = pl.read_parquet(vector_pool(tmp_path / "pool.parquet"))
    frame.with_columns(pl.lit("mine").alias(name)).write_parquet(tmp_path / "pool.parquet")
    code, _, err = invoke("select", write_config(tmp_path, data(tmp_path)))
    assert_one_line_error(code, err, f"'{name}'", "rename")
    assert not run_folders(tmp_path)


def test_the_python_api_keeps_the_users_reason(tmp_path):
    pool = own_columns_pool(tmp_path / "pool.parquet")
    result = curate.select(pool, 12, "random", vectors="vec", label="label",
                           out=tmp_path / "runs", cache_dir=tmp_path / "cache")
    subset = result.subset
    assert subset.select(pool.columns).sort("id").equals(
        pool.join(subset.select("id"), on="id", how="semi").sort("id"))
    assert subset["curate_reason"].null_count() == 0
    # no synthesis: the subset carries no other bookkeeping (issue 26)
    assert set(subset.columns) == {*pool.columns, "curate_reason"}
    assert np.array_equal(subset["id"].to_numpy(), np.array(result.ids))
