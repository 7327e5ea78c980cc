"""Issue 11 risk: null, empty and whitespace-only text rows were embedded and selected
silently (10 of 20 picks in one test). They are dropped at load with a count in the manifest
and report; `data.keep_empty: true` keeps them."""

import json

import polars as pl
import pytest

from curate.config import DataConfig
from curate.data import load_pool
from curate.errors import CurateError

from .helpers import invoke, run_folders, write_config


def _text_pool(path, blanks=(None, "", "   ", "\t\n")):
    texts = [f"sentence number {i} about topic {i % 3}" for i in range(40)]
    for i, blank in enumerate(blanks * 3):  # 12 unusable rows among 40
        texts[i * 3] = blank
    pl.DataFrame({"text": texts, "label": [f"c{i % 3}" for i in range(40)]}).write_parquet(path)
    return path


def test_blank_text_rows_are_dropped_with_a_count(tmp_path):
    pool = load_pool(DataConfig(path=_text_pool(tmp_path / "p.parquet"), text_column="text",
                                label_column="label"))
    assert len(pool) == 28 and pool.dropped == {"empty_text": 12}
    assert all(t.strip() for t in pool.texts())


def test_keep_empty_keeps_them(tmp_path):
    pool = load_pool(DataConfig(path=_text_pool(tmp_path / "p.parquet"), text_column="text",
                                label_column="label", keep_empty=True))
    assert len(pool) == 40 and pool.dropped == {}


def test_a_pair_with_a_blank_side_is_dropped(tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = [{"prompt": f"q{i}", "response": f"a{i}"} for i in range(10)]
    rows[2]["response"], rows[5]["prompt"], rows[7]["response"] = " ", None, ""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pool = load_pool(DataConfig(path=path, prompt_column="prompt", response_column="response"))
    assert len(pool) == 7 and pool.dropped == {"empty_text": 3}


def test_all_blank_is_one_line_error(tmp_path):
    path = tmp_path / "p.parquet"
    pl.DataFrame({"text": ["", " ", None]}, schema={"text": pl.Utf8}).write_parquet(path)
    with pytest.raises(CurateError, match=r"no row of .* has text") as info:
        load_pool(DataConfig(path=path, text_column="text"))
    assert "keep_empty" in str(info.value)


def test_the_count_reaches_manifest_and_report(tmp_path, monkeypatch):
    import numpy as np

    import curate.embed

    def fake_vectors(texts, on_rows=None):  # no model: seeded by text
        assert all(text.strip() for text in texts)  # nothing blank reaches the encoder
        out = np.stack([np.random.default_rng(sum(map(ord, text))).normal(size=8)
                        for text in texts]).astype(np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    monkeypatch.setattr(curate.embed, "shard_worker", lambda modality, cfg: fake_vectors)
    data = {"path": str(_text_pool(tmp_path / "p.parquet")), "text_column": "text",
            "label_column": "label"}
    code, _out, err = invoke("select", write_config(tmp_path, data))
    assert code == 0, err
    run_dir = run_folders(tmp_path)[0]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["stages"]["load"]["rows_dropped"] == {"empty_text": 12}
    assert manifest["pool"]["rows"] == 28
    assert "12 rows dropped (empty_text)" in (run_dir / "report.md").read_text()
    subset = pl.read_parquet(run_dir / "subset" / "subset.parquet")
    assert all(t.strip() for t in subset["text"])
