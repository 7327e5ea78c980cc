"""Defect 11 and the duplicate-keys risk: one reader for every config file, the CLI's and
`curate.select(config=...)`'s, with the same guards (size, aliases, encoding, tags, shape,
duplicate keys), each a one-line CurateError naming the file and the fix."""

import os
import time

import numpy as np
import polars as pl
import pytest

import curate
from curate.config_load import MAX_CONFIG_BYTES, read_config_file
from curate.errors import CurateError

from .helpers import assert_one_line_error, invoke, write_config
from .test_config_faults import billion_laughs


def one_line(err: CurateError, *fragments: str) -> None:
    assert "\n" not in str(err)
    for fragment in fragments:
        assert fragment in str(err), str(err)


def api_frame() -> pl.DataFrame:
    rng = np.random.default_rng(0)
    return pl.DataFrame({"id": [f"r{i}" for i in range(20)],
                         "vec": rng.normal(size=(20, 4)).astype(np.float32).tolist()})


def api_select(tmp_path, config):
    """`curate.select` on a tiny vector frame with a config file."""
    return curate.select(api_frame(), 5, "random", vectors="vec", config=config,
                         out=tmp_path / "runs", cache_dir=tmp_path / "cache")


@pytest.mark.parametrize(("text", "fragments"), [
    (billion_laughs(), ("aliases",)),
    ("- a\n- b\n", ("must be a mapping",)),
    ("select: !!python/object/apply:os.system [echo hi]\n", ("line 1", "python/object")),
    ("select:\n  budget: 5\nrun:\n  seed: 1\nselect:\n  budget: 6\n",
     ("'select' appears twice", "lines 1 and 5")),
    ("select:\n  budget: 5\n  selector: kmq\n  budget: 6\n",
     ("'select.budget' appears twice", "lines 2 and 4")),
    ("bench:\n  selectors: [random]\n  seeds: 2\n  seeds: 3\n", ("'bench.seeds' appears twice",)),
    ("[" * 5000, ("nests too deep",)),
])
def test_the_reader_refuses_in_one_line(tmp_path, text, fragments):
    config = tmp_path / "c.yaml"
    config.write_text(text)
    started = time.perf_counter()
    with pytest.raises(CurateError) as caught:
        read_config_file(config)
    assert time.perf_counter() - started < 10
    one_line(caught.value, str(config), *fragments)


def test_the_reader_refuses_bad_bytes_and_huge_files(tmp_path):
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes("data:\n  source: builtin:digits\n# caf\xe9\n".encode("latin-1"))
    with pytest.raises(CurateError) as caught:
        read_config_file(latin)
    one_line(caught.value, str(latin), "UTF-8")
    huge = tmp_path / "huge.yaml"
    huge.write_text("# padding\n" * (MAX_CONFIG_BYTES // 10 + 1))
    with pytest.raises(CurateError) as caught:
        read_config_file(huge)
    one_line(caught.value, str(huge), "larger than")


def test_a_pipe_is_not_a_config(tmp_path):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # reading it would wait forever for a writer
    with pytest.raises(CurateError) as caught:
        read_config_file(fifo)
    one_line(caught.value, str(fifo), "not a regular file")


def test_merge_keys_may_override_and_a_bom_is_fine(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("\ufeffbase: &b {seed: 1, name: x}\nrun:\n  <<: *b\n  seed: 2\n",
                      encoding="utf-8")
    assert read_config_file(config)["run"] == {"seed": 2, "name": "x"}


def test_data_paths_are_relative_to_the_config(tmp_path):
    (tmp_path / "sub").mkdir()
    config = tmp_path / "sub" / "c.yaml"
    config.write_text("data: {path: pool.parquet}\ntarget: {path: /abs/t.jsonl}\n")
    raw = read_config_file(config)
    assert raw["data"]["path"] == str(tmp_path / "sub" / "pool.parquet")
    assert raw["target"]["path"] == "/abs/t.jsonl"


def test_the_cli_refuses_a_duplicated_section(tmp_path):
    config = write_config(tmp_path)
    config.write_text(config.read_text() + "select:\n  selector: kmq\n")
    code, _, err = invoke("select", config)
    assert_one_line_error(code, err, str(config), "'select' appears twice")
    assert not (tmp_path / "runs").exists()


# The Python API reads its `config=` file with the same reader.

def test_the_api_refuses_an_alias_bomb_quickly(tmp_path):
    config = tmp_path / "bomb.yaml"
    config.write_text(billion_laughs())
    started = time.perf_counter()
    with pytest.raises(CurateError, match="aliases"):
        api_select(tmp_path, config)
    assert time.perf_counter() - started < 10
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("content", "fragment"), [
    ("embed:\n  batch_size: 8\n# caf\xe9\n".encode("latin-1"), "UTF-8"),
    (b"cluster: {k: 3}\ncluster: {k: 4}\n", "'cluster' appears twice"),
    (b"- a\n", "must be a mapping"),
])
def test_the_api_refuses_a_bad_config_file_in_one_line(tmp_path, content, fragment):
    config = tmp_path / "c.yaml"
    config.write_bytes(content)
    with pytest.raises(CurateError) as caught:
        api_select(tmp_path, config)
    one_line(caught.value, str(config), fragment)
    assert not (tmp_path / "runs").exists()
