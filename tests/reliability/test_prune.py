"""Issue 27, defects 10 and 8d: `curate cache prune` deleted an interrupted LoRA training's
checkpoints (their cache entry has no manifest), so its rerun could not resume; and a prune
racing a run's shard write ended the run in a FileNotFoundError traceback."""

import contextlib
import os
import time

import polars as pl

import curate.embed.shards as shard_files
from curate.config_load import parse_config
from curate.maintenance import prune_cache
from curate.train.handoff import checkpoint_dir
from curate.train.sft import latest_checkpoint

from .helpers import assert_one_line_error, invoke, run_folders, write_config

HOURS_AGO = time.time() - 3 * 3600


def _age(*paths):
    for path in paths:
        os.utime(path, (HOURS_AGO, HOURS_AGO))


def test_prune_keeps_an_interrupted_trainings_checkpoints(tmp_path):
    cache = tmp_path / "cache"
    cfg = parse_config({"data": {"source": "builtin:digits"}, "train": {"mode": "lora"},
                        "output": {"cache_dir": str(cache)}})
    folder = checkpoint_dir(cfg, pl.DataFrame({"id": ["a", "b"]}))
    step = folder / "checkpoint-4"
    step.mkdir()
    (step / "trainer_state.json").write_text("{}")
    (step / "adapter_model.safetensors").write_bytes(b"\0" * 64)
    abandoned = cache / "select" / "0123abcd"  # a stage entry a crash left without manifest
    abandoned.mkdir(parents=True)
    (cache / "embed-rows").mkdir()
    _age(step, folder, abandoned)

    code, out, err = invoke("cache", "prune", cache)
    assert code == 0, err
    assert latest_checkpoint(folder) == step
    assert (step / "adapter_model.safetensors").stat().st_size == 64
    assert not abandoned.exists()  # what prune is for still goes
    assert "removed 1 " in out


def test_a_prune_racing_a_shard_write_is_one_line(tmp_path, monkeypatch):
    config = write_config(tmp_path)
    original = shard_files.atomic_path

    @contextlib.contextmanager
    def pruned_meanwhile(path):
        with original(path) as tmp:
            prune_cache(tmp_path / "cache", older_than=0)  # deletes the write's temp folder
            yield tmp

    monkeypatch.setattr(shard_files, "atomic_path", pruned_meanwhile)
    code, _, err = invoke("select", config)
    assert_one_line_error(code, err, "embedding cache changed under this run",
                          "run the same config again")
    assert not run_folders(tmp_path)

    monkeypatch.undo()
    code, _, err = invoke("select", config)
    assert code == 0, err
    assert len(run_folders(tmp_path)) == 1
