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

# +1: higher is better; -1: lower is better.
METRIC_DIRECTION = {"accuracy": 1, "macro_f1": 1, "loss": -1, "perplexity": -1,
                    "tv_distance": -1, "ot_cost": -1}


class ProbeEvaluator:
    """Logistic regression on embeddings; accuracy and macro-F1 on the test rows.

    Macro-F1 averages over the labels of the test rows (a target-shift test part holds
    only the target's labels). A subset with a single label predicts that label everywhere
    (nothing to fit); `model_` is the last fitted model (None then).

    `C` defaults to 10: embeddings are unit vectors, and scikit-learn's C=1 over-regularises
    them (measured on digits pixels, 72 random rows: accuracy 0.54 at C=1, 0.83 at C=10,
    0.86 at C=100; on 4,700 WordNet glosses: 0.62 at C=10, 0.59 at C=100). At C=10 a fit on
    94k glosses takes about 40 s for 200 lbfgs iterations; C=100 needs far more.
    """

    name = "probe"

    def __init__(self, embeddings: np.ndarray, labels: np.ndarray | None, test_rows: np.ndarray,
                 C: float = 10.0, max_iter: int = 500):
        if labels is None:
            raise CurateError("the probe evaluator needs labels but the pool has no label column",
                              "set data.label_column, or use --evaluator lora for "
                              "prompt/response data")
        self.embeddings = embeddings
        self.labels = labels
        self.test_rows = test_rows
        self.C = C
        self.max_iter = max_iter

    def score(self, train_rows: np.ndarray, seed: int,
              extra: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, float]:
        """Train on `train_rows` (plus `extra` (embeddings, labels): synthetic rows)."""
        from sklearn.metrics import accuracy_score, f1_score

        y_test = self.labels[self.test_rows]
        predicted = self.predict(train_rows, seed, extra)
        return {"accuracy": float(accuracy_score(y_test, predicted)),
                "macro_f1": float(f1_score(y_test, predicted, average="macro",
                                           labels=np.unique(y_test)))}

    def predict(self, train_rows: np.ndarray, seed: int,
                extra: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """The test rows' labels as predicted by the probe trained on `train_rows`."""
        from sklearn.linear_model import LogisticRegression

        x_train, y_train = self.embeddings[train_rows], self.labels[train_rows]
        if extra is not None:
            x_train = np.concatenate([x_train, extra[0]])
            y_train = np.concatenate([y_train, extra[1]])
        if len(np.unique(y_train)) == 1:
            self.model_ = None
            return np.full(len(self.test_rows), y_train[0])
        self.model_ = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=seed)
        self.model_.fit(x_train, y_train)
        return self.model_.predict(self.embeddings[self.test_rows])


class LoraEvaluator:
    """LoRA fine-tune of a causal LM on the selected prompt/response rows; held-out loss."""

    name = "lora"

    def __init__(self, pool: Pool, test_rows: np.ndarray, settings: LoraConfig, cache_dir: Path):
        if not (pool.schema.prompt and pool.schema.response):
            raise CurateError("the lora evaluator needs prompt/response rows",
                              "set data.prompt_column and data.response_column")
        from curate.train.causal_lm import load_causal_lm
        from curate.train.lora import build_examples

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
        from curate.train.causal_lm import load_causal_lm
        from curate.train.lora import (
            LoraSettings,
            build_examples,
            heldout_loss,
            perplexity,
            train_lora,
        )

        s = self.settings
        model, _ = load_causal_lm(s.model, self.cache_dir)
        train = build_examples(self.tokenizer_, [self.prompts[i] for i in train_rows],
                               [self.responses[i] for i in train_rows], s.max_length)
        settings = LoraSettings(rank=s.rank, alpha=s.alpha, learning_rate=s.learning_rate,
                                epochs=s.epochs, batch_size=s.batch_size,
                                max_length=s.max_length, seed=seed,
                                target_modules=tuple(s.target_modules))
        tuned, _ = train_lora(model, train, self.tokenizer_.pad_token_id, settings)
        loss = heldout_loss(tuned, self.test_, self.tokenizer_.pad_token_id, s.batch_size)
        return {"loss": loss, "perplexity": perplexity(loss)}
