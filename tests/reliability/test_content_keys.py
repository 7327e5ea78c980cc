"""Defects 4, 5 and 8b of issue 27: caches keyed by what a file says about itself.

4. The load stage keyed a local pool by (path, size, mtime); `cp -p`, `rsync -a` and `tar x`
   restore mtimes, so a same-size edit was a cache hit for every stage and the subset held
   the old text and labels.
5. A model folder was identified by its files' names and sizes, so a fine-tune saved over a
   local encoder (same sizes) reused the old vectors; a local LM by its path only.
8b. A `CURATE_MODELS_DIR` that is a file gave a traceback after distilling a static model.
"""

import json
import os
import shutil

import numpy as np
import polars as pl
import pytest

import curate.embed as embed
from curate.config import DataConfig, EmbedConfig
from curate.data import load_pool
from curate.embed import models
from curate.scoring import lm_scores as lm
from curate.store import ArtifactCache

from .helpers import assert_one_line_error, invoke, run_folders


@pytest.fixture
def remembered(monkeypatch, tmp_path):
    """Digests are remembered even for files written a moment ago (a real run remembers
    only older ones), so the tests exercise the memo, not its guard."""
    monkeypatch.setattr(models, "YOUNG_NS", 0)
    monkeypatch.setenv("CURATE_MODELS_DIR", str(tmp_path / "models"))


def edit_in_place(path, old: str, new: str) -> None:
    """Replace `old` by `new` (same length) inside the file and give it back its mtime, as
    `cp -p` or `rsync -a` of an edited copy would."""
    stat = path.stat()
    data = path.read_bytes()
    assert len(old) == len(new) and old.encode() in data
    with open(path, "r+b") as f:  # the same inode, as an editor that saves in place
        f.write(data.replace(old.encode(), new.encode()))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns


def test_a_same_size_edit_with_its_mtime_restored_reaches_the_subset(tmp_path, remembered):
    pool = tmp_path / "pool.jsonl"
    rng = np.random.default_rng(0)
    with open(pool, "w") as f:
        for i in range(60):
            vec = (np.eye(8)[i % 3] + rng.normal(scale=0.1, size=8)).round(4).tolist()
            f.write(json.dumps({"id": f"r{i:03d}", "vec": vec, "label": f"L{i % 3}",
                                "note": f"old text {i:03d}"}) + "\n")
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({
        "data": {"path": str(pool), "vector_column": "vec", "label_column": "label"},
        "cluster": {"k": 3, "niter": 5, "nredo": 1},
        "select": {"selector": "random", "budget": 12},
        "output": {"dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache")}}))
    code, _, err = invoke("select", config)
    assert code == 0, err
    text = pool.read_text()
    edit_in_place(pool, text, text.replace("old text", "new text").replace('"L0"', '"LX"'))
    code, _, err = invoke("select", config)
    assert code == 0, err
    subset = pl.read_parquet(run_folders(tmp_path)[-1] / "subset" / "subset.parquet")
    assert all(note.startswith("new text") for note in subset["note"]), subset["note"]
    assert "L0" not in subset["label"].to_list() and "LX" in subset["label"].to_list()


def retrain_in_place(folder) -> None:
    """Move every weight a little and save over the same files, keeping their mtimes: the
    same sizes and times, other vectors."""
    import torch
    from transformers import AutoModelForCausalLM

    times = {p: p.stat().st_mtime_ns for p in folder.iterdir()}
    model = AutoModelForCausalLM.from_pretrained(folder)
    sizes = {p: p.stat().st_size for p in folder.iterdir()}
    with torch.no_grad():
        for weight in model.parameters():
            weight.mul_(-1.0)
    model.save_pretrained(folder)
    for path, mtime in times.items():
        os.utime(path, ns=(mtime, mtime))
    assert {p: p.stat().st_size for p in folder.iterdir()} == sizes


@pytest.fixture
def local_lm(tiny_lm, tmp_path):
    """A copy of the session's tiny LM that a test may retrain."""
    return shutil.copytree(tiny_lm, tmp_path / "lm")


def test_a_model_retrained_in_place_is_embedded_again(tmp_path, local_lm, chat_rows,
                                                      remembered):
    pool_file = tmp_path / "pool.jsonl"
    pl.DataFrame({"id": [f"r{i}" for i in range(12)], "text": chat_rows[0][:12]}
                 ).write_ndjson(pool_file)
    pool = load_pool(DataConfig(path=pool_file, text_column="text"))
    cfg = EmbedConfig(model=str(local_lm), precision="fp32")
    cache = ArtifactCache(tmp_path / "cache")
    before = embed.embed_pool(pool, cfg, cache).load()
    retrain_in_place(local_lm)
    after = embed.embed_pool(pool, cfg, cache).load()
    fresh = embed.embed_pool(pool, cfg, ArtifactCache(tmp_path / "fresh")).load()
    assert np.allclose(after, fresh)
    assert not np.allclose(after, before)


def test_the_lm_scores_key_follows_the_weights_not_the_path(local_lm, tmp_path, remembered):
    first = lm.model_identity(str(local_lm))
    moved = shutil.copytree(local_lm, tmp_path / "elsewhere")
    assert first.split("@")[-1] == lm.model_identity(str(moved)).split("@")[-1]
    retrain_in_place(local_lm)
    assert lm.model_identity(str(local_lm)) != first
    assert lm.model_identity("builtin:smollm2") == "builtin:smollm2"  # a package's, by name


def test_an_unchanged_model_is_hashed_once(local_lm, monkeypatch, remembered):
    hashed = []
    original = models.sha256_of

    def counting(path):
        hashed.append(path.name)
        return original(path)

    monkeypatch.setattr(models, "sha256_of", counting)
    first = models.model_identity(str(local_lm))
    assert "model.safetensors" in hashed
    hashed.clear()
    assert models.model_identity(str(local_lm)) == lm.model_identity(str(local_lm)) == first
    assert hashed == []


def test_a_young_file_is_hashed_again_rather_than_remembered(tmp_path):
    path = tmp_path / "pool.jsonl"
    path.write_text("a")
    digest = models.file_digest(path, tmp_path / "memo")
    assert not (tmp_path / "memo").exists()  # its ctime may not move on the next edit
    assert models.file_digest(path, tmp_path / "memo") == digest


def test_a_models_dir_that_is_a_file_is_one_line_before_any_distilling(tmp_path, monkeypatch):
    (tmp_path / "models").write_text("not a folder")
    monkeypatch.setenv("CURATE_MODELS_DIR", str(tmp_path / "models"))
    pool = tmp_path / "pool.jsonl"
    pl.DataFrame({"id": ["a", "b", "c"], "text": ["one", "two", "three"]}).write_ndjson(pool)
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({
        "data": {"path": str(pool), "text_column": "text"},
        "embed": {"model": "builtin:minilm-static"},
        "select": {"selector": "random", "budget": 2},
        "output": {"dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache")}}))
    code, _, err = invoke("select", config)
    assert_one_line_error(code, err, "CURATE_MODELS_DIR", str(tmp_path / "models"))
    assert run_folders(tmp_path) == []
