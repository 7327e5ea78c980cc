"""The hand-off after selection: spec fields, a LoRA fine-tune that reloads, a probe."""

import hashlib
import json

import joblib
import numpy as np
import polars as pl
import pytest

from curate.config_load import parse_config
from curate.data import Schema
from curate.errors import CurateError
from curate.run import run_curation
from curate.train.handoff import handoff_spec, split_rows


def config(tmp_path, data, **sections):
    return parse_config({"data": data, "select": {"selector": "random", "budget": 20},
                         "output": {"dir": str(tmp_path / "runs"),
                                    "cache_dir": str(tmp_path / "cache")}, **sections})


def test_spec_handoff_describes_the_subset(tmp_path, glosses_jsonl):
    cfg = config(tmp_path, {"path": str(glosses_jsonl), "id_column": "uid",
                            "text_column": "gloss", "label_column": "topic"})
    run_dir = run_curation(cfg)
    spec = json.loads((run_dir / "handoff.json").read_text())
    subset = pl.read_parquet(run_dir / spec["subset"]["path"])
    assert spec["mode"] == "spec" and "trained" not in spec
    assert not (run_dir / "train").exists()
    assert spec["subset"]["rows"] == subset.height == 20
    assert spec["subset"]["format"] == "parquet"
    expected = hashlib.sha256("\n".join(subset["id"].to_list()).encode()).hexdigest()
    assert spec["subset"]["fingerprint"] == expected
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["subset"]["fingerprint"] == expected
    assert spec["subset"]["columns"] == {n: str(t) for n, t in subset.schema.items()}
    assert {"gloss", "topic", "id"} <= set(spec["subset"]["columns"])
    assert spec["task"] == "classification"
    assert spec["fields"] == {"input": "gloss", "label": "topic"}
    assert spec["labels"] == sorted(set(subset["topic"]))
    assert spec["suggested"]["model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert spec["suggested"]["r"] == 8 and spec["suggested"]["learning_rate"] == 2e-4
    assert spec["suggested"]["lr_scheduler_type"] == "cosine"
    assert spec["suggested"]["warmup_ratio"] == 0.1
    assert spec["suggested"]["gradient_accumulation_steps"] == 1
    import datasets

    assert datasets.load_from_disk(str(run_dir / spec["subset"]["dataset"])).num_rows == 20
    report = (run_dir / "report.md").read_text()
    assert "subset/subset.parquet" in report and "Hand-off: spec" in report


@pytest.mark.parametrize("schema,task,fields", [
    (Schema(prompt="q", response="a"), "prompt-completion", {"prompt": "q", "completion": "a"}),
    (Schema(text="body"), "language-modeling", {"text": "body"}),
    (Schema(vectors="v", label="y"), "classification", {"input": "v", "label": "y"}),
])
def test_spec_names_the_task_by_the_columns(tmp_path, schema, task, fields):
    frame = pl.DataFrame({"id": ["a", "b"], **{c: ["x", "y"] for c in fields.values()}})
    cfg = config(tmp_path, {"path": "pool.jsonl"},
                 train={"lora": {"model": "my/model", "rank": 4}})
    spec = handoff_spec(cfg, frame, schema)
    assert (spec["task"], spec["fields"]) == (task, fields)
    assert spec["suggested"]["model"] == "my/model" and spec["suggested"]["r"] == 4


def test_split_is_seeded_disjoint_and_never_empty():
    train, held = split_rows(10, 0.3, seed=1)
    assert len(held) == 3 and sorted([*train, *held]) == list(range(10))
    assert all((a == b).all() for a, b in zip(split_rows(10, 0.3, 1), (train, held),
                                              strict=True))
    assert [len(x) for x in split_rows(2, 0.01, 0)] == [1, 1]
    with pytest.raises(CurateError, match="at least 2"):
        split_rows(1, 0.5, 0)


@pytest.mark.usefixtures("one_thread")
def test_lora_handoff_lowers_heldout_loss_and_the_adapter_reloads(tmp_path, tiny_lm, chat_rows):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from curate.models.causal_lm import load_causal_lm
    from curate.models.lora import build_examples, heldout_loss

    path = tmp_path / "chat.parquet"
    pl.DataFrame({"prompt": chat_rows[0], "response": chat_rows[1]}).write_parquet(path)
    cfg = config(tmp_path, {"path": str(path)}, select={"selector": "random", "budget": 160},
                 train={"mode": "lora", "eval_fraction": 0.35, "lora": {
                     "model": tiny_lm, "learning_rate": 2e-2, "max_steps": 20, "batch_size": 16,
                     "max_length": 64, "eval_steps": 10,
                     "target_modules": ["q_proj", "v_proj", "o_proj", "up_proj", "down_proj"]}})
    run_dir = run_curation(cfg)
    spec = json.loads((run_dir / "handoff.json").read_text())
    metrics = json.loads((run_dir / "train" / "metrics.json").read_text())
    loss = metrics["eval_loss"]
    assert spec["task"] == "prompt-completion" and spec["trained"]["eval_loss"] == loss
    assert loss["after"] < loss["before"] - 0.5, loss
    assert metrics["train_loss"][-1] < metrics["train_loss"][0]
    assert metrics["eval_rows"] == 56 and metrics["train_rows"] == 104
    assert metrics["trainer"] == "trl.SFTTrainer" and metrics["steps"] == 20
    assert metrics["resumed_from_step"] == 0 and [s for s, _ in metrics["eval_curve"]] == [10, 20]
    assert not list((tmp_path / "cache" / "checkpoints").iterdir())  # gone once trained
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert metrics["subset_fingerprint"] == manifest["subset"]["fingerprint"]
    assert (run_dir / "train" / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![loss curve](train/loss.png)" in (run_dir / "report.md").read_text()

    # The saved adapter, loaded by peft onto a fresh base model, scores the held-out rows
    # exactly as the trained model did; the base model alone does not.
    subset = pl.read_parquet(run_dir / "subset" / "subset.parquet")
    held = subset.filter(pl.col("id").is_in(metrics["eval_ids"]))
    _, tokenizer = load_causal_lm(tiny_lm, "unused")
    examples = build_examples(tokenizer, held["prompt"].to_list(), held["response"].to_list(), 64)
    base = AutoModelForCausalLM.from_pretrained(tiny_lm, dtype=torch.float32)
    assert heldout_loss(base, examples, tokenizer.pad_token_id, 16) == pytest.approx(
        loss["before"], rel=1e-5)
    reloaded = PeftModel.from_pretrained(base, str(run_dir / "train" / "adapter"))
    assert heldout_loss(reloaded, examples, tokenizer.pad_token_id, 16) == pytest.approx(
        loss["after"], rel=1e-5)


@pytest.mark.usefixtures("one_thread")
def test_lora_handoff_on_text_rows_trains_a_language_model(tmp_path, tiny_lm, chat_rows):
    path = tmp_path / "text.parquet"
    pl.DataFrame({"text": chat_rows[1]}).write_parquet(path)
    cfg = config(tmp_path, {"path": str(path), "text_column": "text"},
                 select={"selector": "random", "budget": 120},
                 train={"mode": "lora", "eval_fraction": 0.25, "lora": {
                     "model": tiny_lm, "learning_rate": 2e-2, "max_steps": 15, "batch_size": 16,
                     "max_length": 64, "target_modules": ["q_proj", "v_proj", "o_proj"]}})
    spec = json.loads((run_curation(cfg) / "handoff.json").read_text())
    loss = spec["trained"]["eval_loss"]
    assert spec["task"] == "language-modeling" and loss["after"] < loss["before"] - 0.5, loss


class Interrupted(Exception):
    pass


@pytest.mark.usefixtures("one_thread")
def test_lora_handoff_resumes_an_interrupted_training(tmp_path, tiny_lm, chat_rows):
    from transformers import TrainerCallback

    from curate.train.handoff import checkpoint_dir, train_lora_handoff

    class Interrupt(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.global_step == 4:
                raise Interrupted

    subset = pl.DataFrame({"id": [f"r{i}" for i in range(60)], "q": chat_rows[0][:60],
                           "a": chat_rows[1][:60]})
    schema = Schema(prompt="q", response="a")
    cfg = config(tmp_path, {"path": "pool.parquet"}, train={
        "mode": "lora", "eval_fraction": 0.2, "lora": {
            "model": tiny_lm, "learning_rate": 2e-2, "max_steps": 6, "save_steps": 2,
            "batch_size": 16, "max_length": 64}})
    with pytest.raises(Interrupted):
        train_lora_handoff(cfg, subset, schema, tmp_path / "train", [Interrupt()])
    folder = checkpoint_dir(cfg, subset)
    assert folder.parent == tmp_path / "cache" / "checkpoints"
    assert sorted(p.name for p in folder.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    assert not (tmp_path / "train").exists()
    assert checkpoint_dir(cfg.model_copy(update={"run": cfg.run.model_copy(update={"seed": 1})}),
                          subset) != folder  # other settings never resume this training

    trained = train_lora_handoff(cfg, subset, schema, tmp_path / "train")
    metrics = json.loads((tmp_path / "train" / "metrics.json").read_text())
    assert metrics["resumed_from_step"] == 4 and metrics["steps"] == 6
    assert len(metrics["train_loss"]) == 6 and trained["eval_loss"] == metrics["eval_loss"]
    assert (tmp_path / "train" / "adapter" / "adapter_model.safetensors").exists()
    assert not folder.exists()


def vector_pool(tmp_path, blobs):
    vectors, labels = blobs
    path = tmp_path / "vectors.parquet"
    pl.DataFrame({"vec": vectors.tolist(), "label": [f"c{y}" for y in labels]}).write_parquet(path)
    return {"path": str(path), "vector_column": "vec", "label_column": "label"}


def test_classifier_handoff_beats_chance_and_the_probe_reloads(tmp_path, blobs):
    cfg = config(tmp_path, vector_pool(tmp_path, blobs),
                 select={"selector": "random", "budget": 120},
                 train={"mode": "classifier", "eval_fraction": 0.25})
    run_dir = run_curation(cfg)
    metrics = json.loads((run_dir / "train" / "metrics.json").read_text())
    assert metrics["eval_rows"] == 30 and metrics["chance"] < 0.5
    assert metrics["accuracy"] > 0.95 > metrics["chance"]
    probe = joblib.load(run_dir / "train" / "probe.joblib")
    subset = pl.read_parquet(run_dir / "subset" / "subset.parquet")
    held = subset.filter(pl.col("id").is_in(metrics["eval_ids"]))
    predicted = probe.predict(np.array(held["vec"].to_list(), dtype=np.float32))
    assert (predicted == held["label"].to_numpy()).mean() == metrics["accuracy"]
    assert "Held-out accuracy" in (run_dir / "report.md").read_text()


def test_handoff_the_pool_cannot_feed_fails_before_any_work(tmp_path, blobs):
    cfg = config(tmp_path, vector_pool(tmp_path, blobs), train={"mode": "lora"})
    with pytest.raises(CurateError, match=r"train\.mode lora needs text"):
        run_curation(cfg)
    assert not (tmp_path / "runs").exists()
    assert not (tmp_path / "cache" / "embed").exists()
