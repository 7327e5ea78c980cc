"""Defect 9 and the input risks of issue 27: a FIFO or a character device as `data.path` was
blamed on the network; a jsonl with a UTF-8 BOM was refused (a csv with one is read); empty
or blank ids were accepted; a file name with `[`, `]` or `*` was read as a glob pattern
(`[1]` found nothing, `*` read every matching file as one pool)."""

import json
import os
from pathlib import Path

import polars as pl
import pytest

from curate.config import DataConfig
from curate.data import load_pool
from curate.errors import CurateError

from .helpers import assert_one_line_error, invoke, run_folders, vector_pool, write_config


def _one_line(info) -> str:
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_fifo_is_named_as_what_it_is(tmp_path):
    fifo = tmp_path / "pool.jsonl"
    os.mkfifo(fifo)
    config = write_config(tmp_path, {"path": str(fifo), "text_column": "text"})
    code, _, err = invoke("select", config)
    assert_one_line_error(code, err, "not a regular file or folder", str(fifo))
    assert "network" not in err and not run_folders(tmp_path)


@pytest.mark.skipif(not Path("/dev/null").is_char_device(), reason="needs /dev/null")
def test_a_character_device_is_named_as_what_it_is():
    with pytest.raises(CurateError, match="not a regular file or folder") as info:
        load_pool(DataConfig(path=Path("/dev/null"), text_column="text"))
    assert "network" not in _one_line(info)


def test_a_jsonl_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "pool.jsonl"
    rows = [{"text": f"row {i}", "label": i % 2} for i in range(5)]
    path.write_bytes(b"\xef\xbb\xbf" + "".join(json.dumps(r) + "\n" for r in rows).encode())
    pool = load_pool(DataConfig(path=path, text_column="text", label_column="label"))
    assert len(pool) == 5 and pool.frame.columns[1:] == ["text", "label"]


def test_a_bad_line_after_a_byte_order_mark_is_still_named(tmp_path):
    path = tmp_path / "pool.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"text": "a"}\n{"text": \n')
    with pytest.raises(CurateError, match="line 2 is not valid JSON"):
        load_pool(DataConfig(path=path, text_column="text"))


@pytest.mark.parametrize("blank", ["", " ", "\t"])
@pytest.mark.parametrize("column", ["id", "key"])
def test_empty_or_blank_ids_are_refused(tmp_path, blank, column):
    path = tmp_path / "pool.parquet"
    pl.DataFrame({column: ["a", blank, "c"], "text": ["x", "y", "z"]}).write_parquet(path)
    id_column = column if column != "id" else None
    with pytest.raises(CurateError, match=f"id column '{column}'") as info:
        load_pool(DataConfig(path=path, text_column="text", id_column=id_column))
    assert "empty" in _one_line(info)


@pytest.mark.parametrize("name", ["pool[1].parquet", "pool[1].jsonl", "pool[1].csv",
                                  "pool*.parquet"])
def test_a_file_name_is_never_a_glob_pattern(tmp_path, name):
    frame = pl.DataFrame({"id": ["a", "b"], "text": ["x", "y"]})
    writers = {".parquet": frame.write_parquet, ".jsonl": frame.write_ndjson,
               ".csv": frame.write_csv}
    writers[Path(name).suffix](tmp_path / name)
    if "*" in name:  # another file the pattern would match
        pl.DataFrame({"id": ["c"], "text": ["z"]}).write_parquet(tmp_path / "pool-2.parquet")
    pool = load_pool(DataConfig(path=tmp_path / name, text_column="text"))
    assert pool.ids.tolist() == ["a", "b"]


def test_a_vector_pool_with_blank_ids_fails_before_anything_is_written(tmp_path):
    path = vector_pool(tmp_path / "pool.parquet")
    frame = pl.read_parquet(path)
    frame.with_columns(pl.when(pl.col("id") == "r005").then(pl.lit(""))
                       .otherwise(pl.col("id")).alias("id")).write_parquet(path)
    config = write_config(tmp_path, {"path": str(path), "vector_column": "vec",
                                     "label_column": "label"})
    code, _, err = invoke("select", config)
    assert_one_line_error(code, err, "id column 'id'", "empty")
    assert not run_folders(tmp_path)
