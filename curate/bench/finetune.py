"""The `finetune` evaluator: fine-tune a text encoder with a classification head on the
selected rows, then score accuracy and macro-F1 on the test part.

The probe (logistic regression on frozen embeddings) is the fast default; this evaluator
checks that a selection's advantage survives real fine-tuning. The model is the encoder
(`builtin:minilm` by default, any transformers encoder id or folder) with a linear head on
its mean-pooled last hidden state. `full` trains every weight; `lora` wraps the encoder with
peft LoRA adapters and trains only them and the head.

Choices, for few-shot selections on a CPU:
- The head has its own, larger learning rate (`head_learning_rate`, 1e-3): it starts at
  random, and at the encoder's 5e-5 the few dozen steps of a 50-row selection barely move it.
- `min_steps` (50) adds epochs to small selections, so "10 per label" is not scored after a
  dozen optimiser steps; large selections run `epochs` as set.
- AdamW's fused kernel: on 2 CPU cores the foreach update of MiniLM's 12M-weight token
  embedding took about as long as a forward pass.

Seeded: the head and adapter initialisation, dropout and the batch order all come from
`seed`, so the same rows and seed give the same metrics (on the same device and threads).
"""

from __future__ import annotations

import copy

import numpy as np

from curate.config import FinetuneConfig
from curate.data import Pool
from curate.errors import CurateError
from curate.progress import progress_bar

DEFAULT_LEARNING_RATE = {"full": 5e-5, "lora": 5e-4}


def _mean_pool(hidden, mask):
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def _classifier(encoder, n_labels: int, dropout: float):
    """The encoder plus dropout and a linear head on mean pooling, as one torch module."""
    import torch

    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = encoder
            self.dropout = torch.nn.Dropout(dropout)
            self.head = torch.nn.Linear(encoder.config.hidden_size, n_labels)
            torch.nn.init.normal_(self.head.weight, std=0.02)
            torch.nn.init.zeros_(self.head.bias)

        def forward(self, **batch):
            hidden = self.encoder(**batch).last_hidden_state
            return self.head(self.dropout(_mean_pool(hidden, batch["attention_mask"])))

    return Classifier()


class FinetuneEvaluator:
    """Fine-tune `settings.model` on the selected rows; accuracy and macro-F1 on the test rows.

    Like the probe: macro-F1 averages over the labels of the test rows, the head covers the
    labels of the selection (a selection with one label predicts it everywhere), and
    `model_` is the last fine-tuned model (None then). The test texts are tokenised once
    here; a test part larger than `max_test_rows` is scored on a seeded sample of it.
    """

    name = "finetune"

    def __init__(self, pool: Pool, test_rows: np.ndarray, settings: FinetuneConfig):
        labels = pool.labels()
        if labels is None:
            raise CurateError("the finetune evaluator needs labels but the pool has no label "
                              "column", "set data.label_column, or use --evaluator lora for "
                              "prompt/response data")
        s = pool.schema
        if not (s.text or (s.prompt and s.response)):
            raise CurateError(f"the finetune evaluator needs text rows but this pool is "
                              f"{s.modality} data with no text column",
                              "set data.text_column, or use --evaluator probe")
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        from curate.embed.device import resolve_device
        from curate.embed.models import resolve_model

        transformers_logging.disable_progress_bar()
        self.settings = settings
        self.labels = labels
        self.texts = pool.texts()
        path = resolve_model(settings.model)
        try:
            self.tokenizer_ = AutoTokenizer.from_pretrained(path)
            self.encoder_ = AutoModel.from_pretrained(path)
        except OSError as err:
            raise CurateError(f"cannot load the finetune model {settings.model}: "
                              f"{str(err).splitlines()[0]}", "check bench.finetune.model"
                              ) from None
        self.device_ = resolve_device(settings.device)
        if len(test_rows) > settings.max_test_rows:  # pools are often sorted by label
            test_rows = np.sort(np.random.default_rng(0).choice(
                test_rows, settings.max_test_rows, replace=False))
        self.test_rows = np.asarray(test_rows)
        self.test_ = self._tokenise(self.test_rows)

    def _tokenise(self, rows: np.ndarray) -> dict[str, list]:
        return dict(self.tokenizer_([self.texts[i] for i in rows], truncation=True,
                                    max_length=self.settings.max_length))

    def _batch(self, encoded: dict[str, list], rows) -> dict:
        batch = self.tokenizer_.pad({k: [v[i] for i in rows] for k, v in encoded.items()},
                                    return_tensors="pt")
        return {k: v.to(self.device_) for k, v in batch.items()}

    def _model(self, n_labels: int):
        """A fresh copy of the encoder with a new head; LoRA-wrapped in lora mode."""
        s = self.settings
        encoder = copy.deepcopy(self.encoder_)
        if s.mode == "lora":
            from peft import LoraConfig, get_peft_model

            try:
                encoder = get_peft_model(encoder, LoraConfig(
                    r=s.lora_rank, lora_alpha=s.lora_alpha, lora_dropout=s.lora_dropout,
                    target_modules=s.lora_target_modules))
            except ValueError as err:
                raise CurateError(f"cannot put LoRA adapters on {s.model}: {err}",
                                  "set bench.finetune.lora_target_modules") from None
        return _classifier(encoder, n_labels, s.dropout).to(self.device_)

    def _optimiser(self, model):
        import torch

        s = self.settings
        groups = {}
        for name, param in model.named_parameters():
            if not param.requires_grad:
                continue
            rate = s.head_learning_rate if name.startswith("head.") else (
                s.learning_rate or DEFAULT_LEARNING_RATE[s.mode])
            decay = 0.0 if param.ndim < 2 else s.weight_decay  # no decay on biases and norms
            groups.setdefault((rate, decay), []).append(param)
        return torch.optim.AdamW([{"params": p, "lr": rate, "weight_decay": decay}
                                  for (rate, decay), p in groups.items()], fused=True)

    def score(self, train_rows: np.ndarray, seed: int) -> dict[str, float]:
        """Fine-tune a fresh model on `train_rows` with `seed`; metrics on the test rows."""
        from sklearn.metrics import accuracy_score, f1_score

        train_rows = np.asarray(train_rows)
        classes, y_train = np.unique(self.labels[train_rows], return_inverse=True)
        y_test = self.labels[self.test_rows]
        if len(classes) == 1:
            self.model_ = None
            predicted = np.full(len(y_test), classes[0])
        else:
            self.model_ = self._train(train_rows, y_train, len(classes), seed)
            predicted = classes[self._predict(self.model_)]
        return {"accuracy": float(accuracy_score(y_test, predicted)),
                "macro_f1": float(f1_score(y_test, predicted, average="macro",
                                           labels=np.unique(y_test)))}

    def _train(self, train_rows: np.ndarray, y_train: np.ndarray, n_labels: int, seed: int):
        import torch
        from transformers import get_linear_schedule_with_warmup

        s = self.settings
        torch.manual_seed(seed)
        model = self._model(n_labels)
        encoded = self._tokenise(train_rows)
        targets = torch.as_tensor(y_train, device=self.device_)
        per_epoch = -(-len(train_rows) // s.batch_size)
        epochs = max(s.epochs, -(-s.min_steps // per_epoch))
        steps = epochs * per_epoch
        optimiser = self._optimiser(model)
        schedule = get_linear_schedule_with_warmup(optimiser, round(s.warmup * steps), steps)
        rng = np.random.default_rng(seed)
        model.train()
        with progress_bar(f"finetune {len(train_rows)} rows, {epochs} epochs", steps,
                          unit="steps") as advance:
            for _ in range(epochs):
                order = rng.permutation(len(train_rows))
                for start in range(0, len(order), s.batch_size):
                    rows = order[start:start + s.batch_size]
                    logits = model(**self._batch(encoded, rows))
                    loss = torch.nn.functional.cross_entropy(logits.float(),
                                                           targets[torch.as_tensor(rows)])
                    loss.backward()
                    optimiser.step()
                    schedule.step()
                    optimiser.zero_grad(set_to_none=True)
                    advance(1)
        return model.eval()

    def _predict(self, model) -> np.ndarray:
        """Class index per test row; batches sorted by length to avoid padding."""
        import torch

        order = np.argsort([-len(ids) for ids in self.test_["input_ids"]], kind="stable")
        predicted = np.empty(len(order), dtype=np.int64)
        size = 4 * self.settings.batch_size
        with torch.inference_mode():
            for start in range(0, len(order), size):
                rows = order[start:start + size]
                predicted[rows] = model(**self._batch(self.test_, rows)).argmax(-1).cpu().numpy()
        return predicted
