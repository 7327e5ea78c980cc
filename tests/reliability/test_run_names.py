"""Issue 27, defects 2 and 8a: a run name derived from the pool's file name escaped output.dir
(a pool `...jsonl` has the stem `..`), the staging cleanup beside the run folder deleted a
user's `.something.tmp` folder, and a 300-character name ended in ENAMETOOLONG. Derived names
are checked like explicit ones, names are capped, and the cleanup deletes only the staging
folders curate names."""

import json

import polars as pl
import pytest

from curate.config_load import parse_config
from curate.errors import CurateError

from .helpers import assert_one_line_error, invoke, run_folders, vector_pool, write_config


def _jsonl_pool(path):
    frame = pl.read_parquet(vector_pool(path.with_name("source.parquet")))
    frame.write_ndjson(path)
    return path


def test_a_derived_name_cannot_leave_the_output_dir(tmp_path):
    out = tmp_path / "out"
    user = out / ".user-data.tmp"
    user.mkdir(parents=True)
    (user / "keep.txt").write_text("mine")
    pool = _jsonl_pool(tmp_path / "...jsonl")  # its stem is '..'
    config = write_config(tmp_path, {"path": str(pool), "vector_column": "vec",
                                     "label_column": "label"},
                          output={"dir": str(out / "runs"), "cache_dir": str(tmp_path / "c")})
    code, _, err = invoke("select", config)
    assert_one_line_error(code, err, "run name", "run.name")
    assert (user / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == [".user-data.tmp"]


def test_the_staging_cleanup_deletes_only_curates_staging_folders(tmp_path):
    parent = tmp_path / "runs" / "named"
    users = [parent / ".user-data.tmp", parent / ".20240101T000000Z.mine.tmp.d"]
    for folder in users:
        folder.mkdir(parents=True)
        (folder / "keep.txt").write_text("mine")
    leftover = parent / ".20240101T000000Z.tmp"  # a killed run's staging folder
    leftover.mkdir()
    code, _, err = invoke("select", write_config(tmp_path, run={"name": "named"}))
    assert code == 0, err
    assert all((folder / "keep.txt").read_text() == "mine" for folder in users)
    assert not leftover.exists()
    assert len(run_folders(tmp_path)) == 1


def test_a_300_character_run_name_is_one_line(tmp_path):
    code, _, err = invoke("select", write_config(tmp_path, run={"name": "n" * 300}))
    assert_one_line_error(code, err, "run.name", "at most 200")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("name", ["é" * 101, "n" * 201])
def test_names_are_capped_in_bytes(name):
    with pytest.raises(CurateError, match="at most 200"):
        parse_config({"data": {"source": "builtin:digits"}, "run": {"name": name}})


def test_a_name_of_200_bytes_runs(tmp_path):
    code, _, err = invoke("select", write_config(tmp_path, run={"name": "n" * 200}))
    assert code == 0, err
    (run_dir,) = run_folders(tmp_path)
    assert run_dir.parent.name == "n" * 200
    assert json.loads((run_dir / "manifest.json").read_text())["run"].startswith("n" * 200)


@pytest.mark.parametrize("source", ["/data/" + "a" * 250, "../.."])
def test_derived_names_are_checked_like_explicit_ones(source):
    cfg = parse_config({"data": {"source": source}})
    with pytest.raises(CurateError, match=r"set run\.name"):
        cfg.run_name()


def test_a_nul_in_the_run_name_is_refused():
    with pytest.raises(CurateError, match=r"run\.name"):
        parse_config({"data": {"source": "builtin:digits"}, "run": {"name": "a\0b"}})
