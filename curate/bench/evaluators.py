"""Evaluators: train on the selected rows, score on the held-out test rows.

`probe` fits a logistic regression on the frozen embeddings (the standard CPU proxy for
selection quality); `lora` fine-tunes a small causal LM with LoRA on prompt/response rows
and reports held-out loss and perplexity.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from curate.config import LoraConfig
from curate.data import Pool
from curate.errors import CurateError
from curate.models.probe import ProbeEvaluator

__all__ = ["METRIC_DIRECTION", "LoraEvaluator", "ProbeEvaluator"]

# +1: higher is better; -1: lower is better.
METRIC_DIRECTION = {"accuracy": 1, "macro_f1": 1, "loss": -1, "perplexity": -1,
                    "tv_distance": -1, "ot_cost": -1}


class LoraEvaluator:
    """LoRA fine-tune of a causal LM on the selected prompt/response rows; held-out loss."""

    name = "lora"

    def __init__(self, pool: Pool, test_rows: np.ndarray, settings: LoraConfig, cache_dir: Path):
        if not (pool.schema.prompt and pool.schema.response):
            raise CurateError("the lora evaluator needs prompt/response rows",
                              "set data.prompt_column and data.response_column")
        from curate.models.causal_lm import load_causal_lm
        from curate.models.lora import build_examples

        self.settings = settings
        self.cache_dir = cache_dir
        _, self.tokenizer_ = load_causal_lm(settings.model, cache_dir)
        frame = pool.frame
        self.prompts = frame[pool.schema.prompt].cast(str).to_list()
        self.responses = frame[pool.schema.response].cast(str).to_list()
        test_rows = test_rows[:settings.max_test_rows]
        self.test_ = build_examples(self.tokenizer_, [self.prompts[i] for i in test_rows],
                                    [self.responses[i] for i in test_rows], settings.max_length)

    def score(self, train_rows: np.ndarray, seed: int) -> dict[str, float]:
        from curate.models.causal_lm import load_causal_lm
        from curate.models.lora import build_examples, heldout_loss, perplexity, train_lora

        s = self.settings
        model, _ = load_causal_lm(s.model, self.cache_dir)
        train = build_examples(self.tokenizer_, [self.prompts[i] for i in train_rows],
                               [self.responses[i] for i in train_rows], s.max_length)
        tuned, _ = train_lora(model, train, self.tokenizer_.pad_token_id, s, seed)
        loss = heldout_loss(tuned, self.test_, self.tokenizer_.pad_token_id, s.batch_size)
        return {"loss": loss, "perplexity": perplexity(loss)}
