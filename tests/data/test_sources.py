import json

import datasets
import numpy as np
import polars as pl
import pytest

from curate.config import DataConfig
from curate.data import load_pool
from curate.data.pool import stable_ids
from curate.errors import CurateError

ROWS = [{"uid": "a", "gloss": "a small dog", "topic": "animal"},
        {"uid": "b", "gloss": "bread baked in an oven", "topic": "food"},
        {"uid": "c", "gloss": "run quickly", "topic": "motion"}]


def cfg(path, **columns):
    return DataConfig(path=path, **columns)


@pytest.fixture
def frame():
    return pl.DataFrame(ROWS)


@pytest.mark.parametrize("suffix", ["jsonl", "csv", "parquet"])
def test_local_files(tmp_path, frame, suffix):
    path = tmp_path / f"pool.{suffix}"
    {"jsonl": frame.write_ndjson, "csv": frame.write_csv, "parquet": frame.write_parquet}[
        suffix](path)
    pool = load_pool(cfg(path, id_column="uid", text_column="gloss", label_column="topic"))
    assert pool.ids.tolist() == ["a", "b", "c"]
    assert pool.texts()[1] == "bread baked in an oven"
    assert pool.labels().tolist() == ["animal", "food", "motion"]


def test_datasets_folder_and_load_dataset_path(tmp_path, frame):
    saved = tmp_path / "saved"
    datasets.Dataset.from_polars(frame).save_to_disk(str(saved))
    pool = load_pool(cfg(saved, id_column="uid", text_column="gloss"))
    assert pool.ids.tolist() == ["a", "b", "c"]
    # A folder of data files goes through datasets.load_dataset, the Hub code path.
    raw = tmp_path / "raw"
    raw.mkdir()
    frame.write_ndjson(raw / "train.jsonl")
    pool = load_pool(cfg(raw, id_column="uid", text_column="gloss"))
    assert sorted(pool.ids.tolist()) == ["a", "b", "c"]
    with pytest.raises(CurateError, match="split 'test'"):
        load_pool(DataConfig(path=raw, split="test", text_column="gloss"))


def test_hub_name_that_cannot_be_reached(monkeypatch):
    with pytest.raises(CurateError, match="cannot load dataset nobody/such-dataset"):
        load_pool(DataConfig(source="nobody/such-dataset", text_column="text"))


def test_content_hash_ids_are_stable_and_unique(tmp_path):
    frame = pl.DataFrame({"text": ["x", "y", "x"], "label": ["1", "2", "1"]})
    path = tmp_path / "p.csv"
    frame.write_csv(path)
    first = load_pool(cfg(path, text_column="text")).ids
    ids = stable_ids(frame, ["text", "label"]).to_list()
    assert len(set(first)) == 3 and ids[2] == f"{ids[0]}-1"
    assert (load_pool(cfg(path, text_column="text")).ids == first).all()
    # the "label" column is picked up by name, so it is part of the content hash; the pool
    # holds its rows in id order
    assert sorted(ids) == first.tolist()


def test_fingerprint_follows_content(tmp_path, frame):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    frame.write_parquet(a)
    frame.with_columns(pl.col("gloss").str.to_uppercase()).write_parquet(b)
    pa = load_pool(cfg(a, id_column="uid", text_column="gloss"))
    assert pa.fingerprint == load_pool(cfg(a, id_column="uid", text_column="gloss")).fingerprint
    assert pa.fingerprint != load_pool(cfg(b, id_column="uid", text_column="gloss")).fingerprint


def test_sample_is_seeded(tmp_path):
    path = tmp_path / "p.jsonl"
    pl.DataFrame({"text": [f"row {i}" for i in range(100)]}).write_ndjson(path)
    one = load_pool(DataConfig(path=path, text_column="text", sample=10), seed=1).ids
    assert (one == load_pool(DataConfig(path=path, text_column="text", sample=10), seed=1).ids
            ).all()
    assert len(one) == 10


def test_vector_column(tmp_path):
    path = tmp_path / "v.parquet"
    pl.DataFrame({"id": ["p", "q"], "vec": [[1.0, 0.0], [0.0, 2.0]]}).write_parquet(path)
    pool = load_pool(DataConfig(path=path, vector_column="vec"))
    assert np.allclose(pool.vectors(), [[1, 0], [0, 2]]) and pool.schema.modality == "vectors"


@pytest.mark.parametrize(("columns", "message"), [
    ({"text_column": "body"}, r"column 'body' \(data.text_column\) not in .*set data.text_column"),
    ({"text_column": "gloss", "label_column": "tag"}, r"column 'tag' \(data.label_column\)"),
    ({}, "no content column set"),
    ({"text_column": "gloss", "id_column": "topic"}, "missing or repeated ids"),
])
def test_bad_columns(tmp_path, columns, message):
    path = tmp_path / "p.jsonl"
    pl.DataFrame([*ROWS, {"uid": "d", "gloss": "x", "topic": "food"}]).write_ndjson(path)
    with pytest.raises(CurateError, match=message):
        load_pool(cfg(path, **columns))


def test_missing_empty_and_unreadable_files(tmp_path):
    with pytest.raises(CurateError, match="data file not found"):
        load_pool(cfg(tmp_path / "nope.jsonl", text_column="text"))
    empty = tmp_path / "empty.jsonl"
    pl.DataFrame({"text": []}, schema={"text": pl.Utf8}).write_parquet(
        empty.with_suffix(".parquet"))
    with pytest.raises(CurateError, match="has no rows"):
        load_pool(cfg(empty.with_suffix(".parquet"), text_column="text"))
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "ok"}\n{"text": \n')
    with pytest.raises(CurateError, match=r"cannot read .*broken.jsonl"):
        load_pool(cfg(broken, text_column="text"))
    weird = tmp_path / "pool.xlsx"
    weird.write_text("x")
    with pytest.raises(CurateError, match="unknown file type"):
        load_pool(cfg(weird, text_column="text"))


def test_unknown_builtin():
    with pytest.raises(CurateError, match=r"unknown builtin dataset 'wordnets'.*wordnet"):
        load_pool(DataConfig(source="builtin:wordnets"))


def test_jsonl_written_by_hand(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    assert len(load_pool(cfg(path, text_column="gloss"))) == 3
