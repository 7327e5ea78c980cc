"""The `lora` evaluator: a LoRA fine-tune of a causal LM on the selected prompt/response
rows with the trainer of `train.mode: lora` (TRL's SFTTrainer, `curate.train.sft`), scored
on held-out rows of the pool.

Metrics: `loss`, the held-out response-token loss averaged per label (each source or
category weighs the same, whatever its share of the test part), `loss[<label>]` for each
label, `perplexity` of `loss`, and `rouge_l`: greedy answers to up to `generate_rows` test
prompts against their references (ROUGE-L F1, rouge-score). The base model is loaded once
per bench and copied per fine-tune (fresh adapters every time); each fine-tune's metrics
are cached by (model, settings, test rows, train rows, seed), so an interrupted grid
resumes where it stopped and the ceiling is paid once per split.
"""

from __future__ import annotations

import copy
import tempfile

import numpy as np

from curate.config import SFTConfig
from curate.data import Pool
from curate.errors import CurateError
from curate.models.causal_lm import load_causal_lm, resolve_causal_lm
from curate.models.lora import build_examples, heldout_loss, perplexity, render_row
from curate.progress import progress_bar
from curate.store import ArtifactCache, cached_stage, hash_json
from curate.train.sft import make_trainer, prompt_completion_rows, trained_model, use_bf16

STAGE = "bench-lora"
MAX_NEW_TOKENS = 64  # a definition's first sentence or two; longer answers cost time only


class LoraEvaluator:
    name = "lora"

    def __init__(self, pool: Pool, test_rows: np.ndarray, settings: SFTConfig,
                 cache: ArtifactCache, generate_rows: int = 100):
        if not (pool.schema.prompt and pool.schema.response):
            raise CurateError("the lora evaluator needs prompt/response rows",
                              "set data.prompt_column and data.response_column")
        self.settings, self.cache, self.generate_rows = settings, cache, generate_rows
        self.model_, self.tokenizer_ = load_causal_lm(settings.model, cache.root)
        frame = pool.frame
        self.prompts = frame[pool.schema.prompt].cast(str).to_list()
        self.responses = frame[pool.schema.response].cast(str).to_list()
        labels = pool.labels()  # one group when the pool has none
        self.labels = labels if labels is not None else np.full(len(pool), "all")
        self.ids = pool.ids
        # A seeded sample, not the first rows: ids sort by source, so a prefix is one source.
        size = min(settings.max_test_rows, len(test_rows))
        self.test_rows = np.sort(np.random.default_rng(0).choice(test_rows, size, replace=False))
        self.key_ = {"model": resolve_causal_lm(settings.model, cache.root),
                     # off, as before the setting existed: earlier grids stay cached
                     "settings": settings.model_dump(
                         mode="json", exclude=None if settings.group_by_length
                         else {"group_by_length"}),
                     "bf16": use_bf16(settings.precision),  # what `auto` resolved to
                     "test": hash_json(self.ids[self.test_rows].tolist()),
                     "generate_rows": generate_rows, "version": 1}

    def score(self, train_rows: np.ndarray, seed: int) -> dict[str, float]:
        """Fine-tune on `train_rows` and score; cached per (train rows, seed)."""
        key = {**self.key_, "train": hash_json(sorted(self.ids[train_rows].tolist())),
               "seed": seed}
        entry = cached_stage(self.cache, STAGE, key,
                             lambda folder: {"metrics": self._fine_tune(train_rows, seed)})
        return entry.manifest["metrics"]

    def _fine_tune(self, train_rows: np.ndarray, seed: int) -> dict[str, float]:
        tokenizer = self.tokenizer_
        rows = prompt_completion_rows(tokenizer, [self.prompts[i] for i in train_rows],
                                      [self.responses[i] for i in train_rows])
        with tempfile.TemporaryDirectory(prefix="curate-bench-lora-") as out:
            trainer = make_trainer(copy.deepcopy(self.model_), tokenizer, rows, None,
                                   self.settings, seed, out, [progress_callback()])
            if len(trainer.train_dataset) == 0:
                raise CurateError("no selected row has a response token within max_length",
                                  "raise bench.lora.max_length")
            trainer.train()
            model = trained_model(trainer)
        metrics = self._losses(model)
        if self.generate_rows:
            metrics["rouge_l"] = self._rouge_l(model)
        return metrics

    def _losses(self, model) -> dict[str, float]:
        per_label = {}
        for label in np.unique(self.labels[self.test_rows]):
            rows = self.test_rows[self.labels[self.test_rows] == label]
            examples = build_examples(self.tokenizer_, [self.prompts[i] for i in rows],
                                      [self.responses[i] for i in rows],
                                      self.settings.max_length)
            examples.sort(key=lambda e: len(e.input_ids))  # batches of like length
            per_label[str(label)] = heldout_loss(model, examples, self.tokenizer_.pad_token_id,
                                                 self.settings.batch_size)
        loss = float(np.mean(list(per_label.values())))
        return {"loss": loss, "perplexity": perplexity(loss),
                **{f"loss[{label}]": value for label, value in per_label.items()}}

    def _rouge_l(self, model) -> float:
        """Mean ROUGE-L F1 of greedy answers to the first `generate_rows` test prompts."""
        import torch
        from rouge_score import rouge_scorer

        tokenizer = self.tokenizer_
        rows = self.test_rows[:self.generate_rows]
        scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
        side, tokenizer.padding_side = tokenizer.padding_side, "left"
        scores = []
        model.eval()
        try:
            for start in range(0, len(rows), self.settings.batch_size):
                chunk = rows[start:start + self.settings.batch_size]
                batch = tokenizer([render_row(tokenizer, self.prompts[i], "")[0] for i in chunk],
                                  return_tensors="pt", padding=True, add_special_tokens=False)
                batch = batch.to(next(model.parameters()).device)
                with torch.inference_mode():
                    out = model.generate(**batch, max_new_tokens=MAX_NEW_TOKENS,
                                         do_sample=False, pad_token_id=tokenizer.pad_token_id)
                answers = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:],
                                                 skip_special_tokens=True)
                scores += [scorer.score(self.responses[i], answer)["rougeL"].fmeasure
                           for i, answer in zip(chunk, answers, strict=True)]
        finally:
            tokenizer.padding_side = side
        return float(np.mean(scores))


def progress_callback():
    """A callback showing one fine-tune's steps and time left, as curate's progress bars do
    (made on first use: transformers loads late)."""
    from transformers import TrainerCallback

    class ProgressCallback(TrainerCallback):
        """Steps, loss and time left of one fine-tune, as curate's other progress bars."""

        def on_train_begin(self, args, state, control, **kwargs):
            self.bar_ = progress_bar("LoRA fine-tune", total=state.max_steps, unit="steps")
            self.advance_ = self.bar_.__enter__()

        def on_step_end(self, args, state, control, **kwargs):
            self.advance_(1)

        def on_train_end(self, args, state, control, **kwargs):
            self.bar_.__exit__(None, None, None)

    return ProgressCallback()
