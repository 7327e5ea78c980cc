"""LoRA supervised fine-tuning with TRL's `SFTTrainer` and a peft `LoraConfig`.

Rows go to TRL in its own dataset formats: prompt/response rows as prompt-completion
(conversational, so rendered by the chat template, when the tokenizer has one), text rows
as language modelling. TRL masks the prompt tokens (completion-only loss), truncates to
`max_length` and drops rows left without a target token. Training uses a linear warm-up
and cosine decay, gradient accumulation and clipping, bf16 where the hardware has it,
evaluates on the held-out rows every `eval_steps`, and checkpoints every `save_steps`
into `output_dir`; a rerun with the same `output_dir` resumes from the latest complete
checkpoint (optimiser, scheduler, RNG and data order included).

References:
    TRL SFTTrainer: https://huggingface.co/docs/trl/sft_trainer
"""

from __future__ import annotations

import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from curate.config import SFTConfig
from curate.errors import CurateError, missing_package
from curate.models.lora import Example, heldout_loss, peft_lora_config

log = logging.getLogger(__name__)

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


@dataclass
class SFTResult:
    """What a training run did; `model` is the peft model with the trained adapter."""

    model: object
    losses: list[float] = field(default_factory=list)  # per optimiser step, resumed ones too
    eval_curve: list[tuple[int, float]] = field(default_factory=list)  # (step, TRL eval loss)
    eval_loss: dict[str, float] = field(default_factory=dict)  # per target token, before/after
    steps: int = 0
    resumed_from: int = 0  # the checkpoint's step, 0 for a fresh start
    train_rows: int = 0
    eval_rows: int = 0


def prompt_completion_rows(tokenizer, prompts: list[str], responses: list[str]):
    """A TRL prompt-completion dataset: conversational when the tokenizer has a chat
    template, else the prompt and a newline, then the response (TRL appends EOS)."""
    from datasets import Dataset

    if getattr(tokenizer, "chat_template", None):
        return Dataset.from_dict({
            "prompt": [[{"role": "user", "content": p}] for p in prompts],
            "completion": [[{"role": "assistant", "content": r}] for r in responses]})
    return Dataset.from_dict({"prompt": [f"{p}\n" for p in prompts], "completion": responses})


def text_rows(texts: list[str]):
    """A TRL language-modelling dataset: every token is a target."""
    from datasets import Dataset

    return Dataset.from_dict({"text": texts})


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest complete `checkpoint-N` in `folder`. transformers writes trainer_state.json
    last, so a folder without it is a save cut short: it is deleted, not resumed from."""
    found = []
    for path in Path(folder).glob("checkpoint-*"):
        if not (match := CHECKPOINT.match(path.name)):
            continue
        if (path / "trainer_state.json").exists():
            found.append((int(match.group(1)), path))
        else:
            shutil.rmtree(path, ignore_errors=True)
    return max(found)[1] if found else None


def use_bf16(precision: str) -> bool:
    """bf16 mixed precision: asked for, or `auto` on a GPU with bf16 support. On a CPU
    `auto` stays fp32: bf16 autocast trained no faster there at the same held-out loss
    (benchmarks/training.md, "bf16 mixed precision for LoRA on a CPU")."""
    import torch

    if precision != "auto":
        return precision == "bf16"
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def sft_config(settings: SFTConfig, seed: int, output_dir: Path, evaluate: bool = True):
    import torch
    from trl import SFTConfig

    bf16 = use_bf16(settings.precision)
    return SFTConfig(
        output_dir=str(output_dir), seed=seed, data_seed=seed,
        learning_rate=settings.learning_rate, lr_scheduler_type="cosine",
        warmup_steps=settings.warmup_ratio,  # a float below 1 is a fraction of all steps
        num_train_epochs=settings.epochs, max_steps=settings.max_steps or -1,
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accum, max_grad_norm=settings.max_grad_norm,
        max_length=settings.max_length, bf16=bf16, fp16=False,
        train_sampling_strategy="group_by_length" if settings.group_by_length else "random",
        activation_checkpointing=settings.gradient_checkpointing,  # transformers 5 name
        eval_strategy="steps" if evaluate else "no", eval_steps=settings.eval_steps,
        save_strategy="steps", save_steps=settings.save_steps, save_total_limit=2,
        logging_steps=1, report_to="none", disable_tqdm=True,
        # bf16 on a CPU needs the trainer told it runs there
        use_cpu=not torch.cuda.is_available(),
        dataloader_pin_memory=torch.cuda.is_available())


def _log_callback():
    """Training progress to curate's logger instead of print()."""
    from transformers import TrainerCallback

    class LogCallback(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            log.info("LoRA step %d/%d: %s", state.global_step, state.max_steps,
                     {k: round(v, 4) for k, v in (logs or {}).items() if isinstance(v, float)})

    return LogCallback()


def make_trainer(model, tokenizer, train_rows, eval_rows, settings: SFTConfig, seed: int,
                 output_dir: Path, callbacks=()):
    """An SFTTrainer that wraps `model` with LoRA adapters; datasets are prepared here."""
    try:
        from trl import SFTTrainer
    except ImportError:
        raise missing_package("train.mode lora", "TRL", "'curate[train]'") from None
    import datasets
    from transformers import PrinterCallback

    datasets.disable_progress_bars()  # TRL maps the rows in several passes, each with a bar

    trainer = SFTTrainer(
        model=model, processing_class=tokenizer,
        args=sft_config(settings, seed, output_dir, evaluate=eval_rows is not None),
        train_dataset=train_rows, eval_dataset=eval_rows,
        peft_config=peft_lora_config(settings),
        callbacks=[_log_callback(), *callbacks])
    trainer.remove_callback(PrinterCallback)
    return trainer


def trained_model(trainer):
    """The trained peft model without the trainer's bf16 autocast wrapper, so held-out
    losses are fp32 forward passes whatever the training precision (as a reload gives)."""
    return trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)


def prepared_examples(dataset) -> list[Example]:
    """Rows of a dataset TRL prepared (input_ids, labels with -100 on prompt tokens)."""
    return [Example(list(row["input_ids"]), list(row["labels"])) for row in dataset]


def train_sft(model, tokenizer, train_rows, eval_rows, settings: SFTConfig, seed: int,
              output_dir: Path, callbacks=()) -> SFTResult:
    """Train LoRA adapters on `train_rows`, resuming from `output_dir`'s latest checkpoint.

    The held-out loss before and after is the mean cross-entropy per target token over all
    of `eval_rows` as TRL prepared them (TRL's own eval loss, logged every `eval_steps`,
    averages per batch).
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    trainer = make_trainer(model, tokenizer, train_rows, eval_rows, settings, seed, output_dir,
                           callbacks)
    if len(trainer.train_dataset) == 0:
        raise CurateError("no training row has a target token within max_length",
                          "raise train.lora.max_length")
    held = prepared_examples(trainer.eval_dataset)
    if not held:
        raise CurateError("no held-out row has a target token within max_length",
                          "raise train.lora.max_length or train.eval_fraction")
    pad = tokenizer.pad_token_id
    # LoRA's B matrices start at zero: the wrapped model still scores as the base model.
    before = heldout_loss(trainer.model, held, pad, settings.batch_size)
    checkpoint = latest_checkpoint(output_dir)
    resumed_from = int(CHECKPOINT.match(checkpoint.name).group(1)) if checkpoint else 0
    if checkpoint:
        log.info("resuming LoRA training from %s", checkpoint)
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    model = trained_model(trainer)
    after = heldout_loss(model, held, pad, settings.batch_size)
    history = trainer.state.log_history
    return SFTResult(
        model=model,
        losses=[h["loss"] for h in history if "loss" in h],
        eval_curve=[(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h],
        eval_loss={"before": before, "after": after}, steps=trainer.state.global_step,
        resumed_from=resumed_from, train_rows=len(trainer.train_dataset), eval_rows=len(held))
