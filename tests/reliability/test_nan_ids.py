"""Defect 9: the NaN/inf error named a position in the id-sorted pool ("first at row 17"),
which is no row number of the user's file; it names the row's id."""

import polars as pl

from .helpers import assert_one_line_error, invoke, run_folders, vector_pool, write_config


def test_a_nan_vector_is_named_by_its_id(tmp_path):
    path = vector_pool(tmp_path / "pool.parquet")
    frame = pl.read_parquet(path).sample(fraction=1.0, shuffle=True, seed=1)
    frame.with_columns(pl.when(pl.col("id") == "r017").then(pl.lit([float("nan")] * 8))
                       .otherwise(pl.col("vec")).alias("vec")).write_parquet(path)
    config = write_config(tmp_path, {"path": str(path), "vector_column": "vec",
                                     "label_column": "label"})
    code, _, err = invoke("select", config)
    assert_one_line_error(code, err, "NaN or inf", "'r017'")
    assert not run_folders(tmp_path)
