"""The hand-off after selection: the subset as a training job.

Every mode writes `handoff.json` (where the subset is, its format, fingerprint, columns
and suggested hyper-parameters) and `report.md` into the run folder:

- `spec` trains nothing; an outside trainer (TRL, axolotl) reads handoff.json.
- `lora` fine-tunes a causal LM with LoRA (TRL's SFTTrainer, `curate.train.sft`) on
  prompt/response rows (completion-only loss, chat template when the tokenizer has one)
  or text rows, scores a held-out split of the subset before and after, and writes
  `train/` (the adapter, metrics.json, loss.png). An interrupted run resumes from its
  latest checkpoint when the same config runs again.
- `classifier` fits a logistic-regression probe on the run's embeddings of labelled rows
  and writes `train/` (probe.joblib, metrics.json).
"""

from __future__ import annotations

import importlib.util
import shutil
import time
from pathlib import Path

import numpy as np
import polars as pl

from curate.config import Config, TrainConfig
from curate.data import Schema
from curate.errors import CurateError, missing_package
from curate.models.lora import LORA_DROPOUT
from curate.store import (
    ArtifactCache,
    atomic_path,
    hash_json,
    read_json,
    subset_fingerprint,
    write_json,
)

HANDOFF = "handoff.json"
REPORT = "report.md"
SUBSET = "subset/subset.parquet"
# An outside trainer cannot resolve curate's builtin names; these are the same models' Hub ids.
HUB_IDS = {"builtin:smollm2": "HuggingFaceTB/SmolLM2-135M-Instruct"}


def task_of(schema: Schema) -> tuple[str, dict[str, str]]:
    """The training task the subset's columns support, and which column plays which field."""
    if schema.prompt and schema.response:
        return "prompt-completion", {"prompt": schema.prompt, "completion": schema.response}
    if schema.label:
        inputs = schema.text or schema.image or schema.vectors
        return "classification", {"input": inputs, "label": schema.label}
    if schema.text:
        return "language-modeling", {"text": schema.text}
    return "unlabelled", {}


def check_handoff(train: TrainConfig, schema: dict) -> None:
    """Fail before any work when the pool cannot feed the configured hand-off."""
    s = Schema(**schema)
    if train.mode == "lora" and not (s.text or (s.prompt and s.response)):
        raise CurateError("train.mode lora needs text or prompt/response rows",
                          "set data.text_column or data.prompt_column and data.response_column")
    if train.mode == "lora" and importlib.util.find_spec("trl") is None:
        raise missing_package("train.mode lora", "TRL", "'curate[train]'")
    if train.mode == "classifier" and not s.label:
        raise CurateError("train.mode classifier needs labelled rows", "set data.label_column")


def handoff_spec(cfg: Config, subset: pl.DataFrame, schema: Schema) -> dict:
    """What an outside trainer needs; paths are relative to the run folder."""
    lora = cfg.train.lora
    task, fields = task_of(schema)
    spec = {
        "mode": cfg.train.mode,
        "task": task,
        "fields": fields,
        "subset": {"path": SUBSET, "dataset": "subset/dataset", "format": "parquet",
                   "rows": subset.height, "fingerprint": subset_fingerprint(subset),
                   "columns": {name: str(dtype) for name, dtype in subset.schema.items()}},
        "suggested": {"model": HUB_IDS.get(lora.model, lora.model), "peft": "lora",
                      "r": lora.rank, "lora_alpha": lora.alpha, "lora_dropout": LORA_DROPOUT,
                      "target_modules": lora.target_modules,
                      "learning_rate": lora.learning_rate, "num_train_epochs": lora.epochs,
                      "per_device_train_batch_size": lora.batch_size,
                      "gradient_accumulation_steps": lora.grad_accum,
                      "lr_scheduler_type": "cosine", "warmup_ratio": lora.warmup_ratio,
                      "max_grad_norm": lora.max_grad_norm,
                      "max_length": lora.max_length, "eval_fraction": cfg.train.eval_fraction,
                      "seed": cfg.run.seed},
    }
    if task == "classification":
        spec["labels"] = sorted(subset[schema.label].cast(pl.Utf8).drop_nulls().unique()
                                .to_list())
    return spec


def split_rows(n: int, eval_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train, eval) row indices; at least one row on each side."""
    if n < 2:
        raise CurateError(f"the subset has {n} row; training needs at least 2",
                          "raise select.budget")
    order = np.random.default_rng(seed).permutation(n)
    n_eval = min(max(1, round(eval_fraction * n)), n - 1)
    return np.sort(order[n_eval:]), np.sort(order[:n_eval])


def hand_off(cfg: Config, run_dir: Path, pool_ref, embeddings_ref) -> Path:
    """Write handoff.json (training first, per train.mode) and report.md; returns the json."""
    started = time.perf_counter()
    run_dir = Path(run_dir)
    subset = pl.read_parquet(run_dir / SUBSET)
    schema = Schema(**pool_ref.schema)
    spec = handoff_spec(cfg, subset, schema)
    if cfg.train.mode == "lora":
        spec["trained"] = train_lora_handoff(cfg, subset, schema, run_dir / "train")
    elif cfg.train.mode == "classifier":
        spec["trained"] = train_probe_handoff(cfg, subset, schema, pool_ref.load().ids,
                                              embeddings_ref.load(), run_dir / "train")
    spec["seconds"] = round(time.perf_counter() - started, 3)
    write_json(run_dir / HANDOFF, spec)
    write_report(run_dir)
    return run_dir / HANDOFF


def _lm_rows(tokenizer, frame: pl.DataFrame, schema: Schema):
    """The rows as a TRL dataset: prompt-completion, or language modelling on text."""
    from curate.train.sft import prompt_completion_rows, text_rows

    def column(name: str) -> list[str]:
        return frame[name].cast(pl.Utf8).fill_null("").to_list()

    if schema.prompt and schema.response:
        return prompt_completion_rows(tokenizer, column(schema.prompt), column(schema.response))
    return text_rows(column(schema.text))


def checkpoint_dir(cfg: Config, subset: pl.DataFrame) -> Path:
    """Where the trainer checkpoints: a cache entry named by the run, the subset and the
    training settings. The run folder is a staging folder until the run ends (and a rerun
    gets a new timestamp), so an interrupted run's checkpoints must live outside it for
    the rerun of the same config to find and resume them; the entry is marked resumable,
    so `curate cache prune` keeps it."""
    key = hash_json({"run": cfg.run_name(), "subset": subset_fingerprint(subset),
                     "train": cfg.train.model_dump(mode="json"), "seed": cfg.run.seed})
    return ArtifactCache(cfg.output.cache_dir).resumable_entry("checkpoints", key)


def train_lora_handoff(cfg: Config, subset: pl.DataFrame, schema: Schema, out: Path,
                       callbacks=()) -> dict:
    """LoRA fine-tune (TRL) on the train split; held-out loss before and after; writes `out`.
    Checkpoints go to `checkpoint_dir` and are deleted once the adapter is written."""
    from curate.models.causal_lm import load_causal_lm, resolve_causal_lm
    from curate.models.lora import perplexity
    from curate.train.sft import train_sft

    s = cfg.train.lora
    train_rows, eval_rows = split_rows(subset.height, cfg.train.eval_fraction, cfg.run.seed)
    eval_rows = eval_rows[:s.max_test_rows]
    model, tokenizer = load_causal_lm(s.model, cfg.output.cache_dir)
    checkpoints = checkpoint_dir(cfg, subset)
    result = train_sft(model, tokenizer, _lm_rows(tokenizer, subset[train_rows], schema),
                       _lm_rows(tokenizer, subset[eval_rows], schema), s, cfg.run.seed,
                       checkpoints, callbacks)
    before, after = result.eval_loss["before"], result.eval_loss["after"]
    metrics = {"model": s.model, "base_model_path": resolve_causal_lm(s.model,
                                                                      cfg.output.cache_dir),
               "trainer": "trl.SFTTrainer", "subset_fingerprint": subset_fingerprint(subset),
               "train_rows": result.train_rows, "eval_rows": result.eval_rows,
               "eval_ids": subset["id"][eval_rows].to_list(),
               "steps": result.steps, "resumed_from_step": result.resumed_from,
               "train_loss": result.losses, "eval_curve": result.eval_curve,
               "eval_loss": result.eval_loss,
               "eval_perplexity": {"before": perplexity(before), "after": perplexity(after)}}
    with atomic_path(out) as tmp:
        result.model.save_pretrained(tmp / "adapter")
        tokenizer.save_pretrained(tmp / "adapter")
        write_json(tmp / "metrics.json", metrics)
        _plot_losses(result.losses, result.eval_curve, before, after, tmp / "loss.png")
    shutil.rmtree(checkpoints, ignore_errors=True)
    return {"adapter": "train/adapter", "metrics": "train/metrics.json",
            "loss_curve": "train/loss.png", "eval_loss": metrics["eval_loss"]}


def _plot_losses(losses: list[float], eval_curve: list, before: float, after: float,
                 path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on servers and in Prefect workers
    import matplotlib.pyplot as plt

    steps = np.arange(1, len(losses) + 1)
    window = max(1, min(10, len(losses) // 4))  # per-step loss is noisy at small batches
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, losses, alpha=0.35, label="train loss (per step)")
    ax.plot(steps[window - 1:], np.convolve(losses, np.ones(window) / window, "valid"),
            label=f"train loss (mean of {window} steps)")
    if eval_curve:
        ax.plot(*zip(*eval_curve, strict=True), ".-",
                label="held-out loss (TRL eval: mean over batches)")
    ax.plot([0, len(losses)], [before, after], "o", label="held-out loss (before, after)")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy per token")
    ax.legend(fontsize="small", framealpha=0.6)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def train_probe_handoff(cfg: Config, subset: pl.DataFrame, schema: Schema, pool_ids: np.ndarray,
                        embeddings: np.ndarray, out: Path) -> dict:
    """Logistic regression on the subset rows' embeddings; accuracy on the eval split."""
    import joblib

    from curate.models.probe import ProbeEvaluator

    position = {row_id: i for i, row_id in enumerate(pool_ids)}
    # Rows without pool embeddings (synthetic ones) cannot be probed, nor rows without a
    # label (data.keep_unlabelled): they are no class to learn.
    in_pool = subset.filter(pl.col("id").is_in(list(position)),
                            pl.col(schema.label).cast(pl.Utf8).fill_null("") != "")
    vectors = embeddings[[position[i] for i in in_pool["id"]]]
    labels = in_pool[schema.label].cast(pl.Utf8).to_numpy().astype(str)
    train_rows, eval_rows = split_rows(in_pool.height, cfg.train.eval_fraction, cfg.run.seed)
    probe = ProbeEvaluator(vectors, labels, eval_rows)
    scores = probe.score(train_rows, cfg.run.seed)
    if probe.model_ is None:
        raise CurateError("the classifier's training split has a single label",
                          "raise select.budget or use a per-label budget")
    _, counts = np.unique(labels[eval_rows], return_counts=True)
    metrics = {**scores, "chance": float(counts.max() / counts.sum()),
               "subset_fingerprint": subset_fingerprint(subset), "embed_model": cfg.embed.model,
               "train_rows": len(train_rows), "eval_rows": len(eval_rows),
               "eval_ids": in_pool["id"][eval_rows].to_list()}
    with atomic_path(out) as tmp:
        tmp.mkdir()
        joblib.dump(probe.model_, tmp / "probe.joblib")
        write_json(tmp / "metrics.json", metrics)
    return {"model": "train/probe.joblib", "metrics": "train/metrics.json",
            "accuracy": scores["accuracy"], "chance": metrics["chance"]}


def write_report(run_dir: Path) -> Path:
    """report.md: the run in a few lines, and the hand-off with its metrics and loss curve."""
    manifest, spec = read_json(run_dir / "manifest.json"), read_json(run_dir / HANDOFF)
    subset, trained = spec["subset"], spec.get("trained", {})
    # Written in the staging folder, so the run's name comes from the manifest.
    name = manifest.get("run", f"{run_dir.parent.name}/{run_dir.name}")
    dropped = manifest.get("stages", {}).get("load", {}).get("rows_dropped") or {}
    lines = [f"# Run {name}", "",
             f"- pool: {manifest['pool']['origin']} ({manifest['pool']['rows']} rows, "
             f"fingerprint `{manifest['pool']['fingerprint'][:16]}`)",
             *(f"- {n} rows dropped ({reason})" for reason, n in sorted(dropped.items())),
             *([f"- dedup: {d['exact']} exact and {d['near']} near duplicates dropped "
                f"({d['rows_in']} -> {d['rows_out']} rows; kept the "
                f"{'smallest id' if d['keep'] == 'first' else 'highest ' + d['keep']} "
                f"of each group; [dropped.parquet](dropped.parquet))"]
               if (d := manifest.get("dedup")) else []),
             f"- selector: {manifest['selector']}, budget {manifest['budget'].get('total')}, "
             f"seed {manifest['seed']}",
             *([f"- auto chose {choice['selector']}: {choice['reason']}"]
               if (choice := manifest.get("choice")) else []),
             f"- subset: [{subset['path']}]({subset['path']}), {subset['rows']} rows, "
             f"fingerprint `{subset['fingerprint'][:16]}`", "",
             f"## Hand-off: {spec['mode']}", "",
             f"[{HANDOFF}]({HANDOFF}): task `{spec['task']}`, fields {spec['fields']}."]
    if "eval_loss" in trained:
        loss = trained["eval_loss"]
        lines += ["", f"LoRA adapter: [{trained['adapter']}]({trained['adapter']}). Held-out "
                  f"loss {loss['before']:.4f} before, {loss['after']:.4f} after.", "",
                  f"![loss curve]({trained['loss_curve']})"]
    if "accuracy" in trained:
        lines += ["", f"Probe: [{trained['model']}]({trained['model']}). Held-out accuracy "
                  f"{trained['accuracy']:.3f} (majority class {trained['chance']:.3f})."]
    with atomic_path(run_dir / REPORT) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return run_dir / REPORT
