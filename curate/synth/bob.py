"""Context-conditioned generation with marginalised context (BOB, "Beyond Objects").

Each real row contributes one row to a context bank: class-agnostic context phrases (for
images the official code asks a captioning VLM for background and pose; for text we ask the
small LM for the writing style, or take columns the user names). A synthetic row of class c
draws one whole bank row uniformly at random from the whole bank, ignoring that row's class,
and fills the template with c and that row's context: the context is marginalised out, so it
carries no information about the class. Class names are scrubbed from the bank so that no
context phrase can smuggle a class in.

The text backend prompts a small instruct LM (default SmolLM2-135M-Instruct) with the class
and the drawn context, and keeps a generated row only if a probe (logistic regression on the
selected rows' embeddings) assigns it to its intended class.

References:
    Beyond Objects: contextual synthetic data generation for fine-grained classification
    (github.com/princetonvisualai/BeyondObjects).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import polars as pl

from curate.data.pool import Pool, Schema
from curate.errors import CurateError
from curate.params import Interval, Text, TextList, constraints
from curate.synth.base import Generator, Services, single_thread
from curate.synth.registry import register

STYLE_PROMPT = ("In at most eight words, describe the tone and format of the text below "
                "(for example: formal report with quotes). Do not mention its subject.\n\n{text}")
TEXT_TEMPLATE = ("Write a short news article about {label}. Writing style: {context}. "
                 "Reply with the article only.")


@dataclass
class ContextBank:
    """One row of context phrases per real row. `labels` are kept only to check that the
    generation ignores them."""

    ids: np.ndarray
    labels: np.ndarray
    contexts: pl.DataFrame  # one string column per context field

    def __len__(self) -> int:
        return len(self.ids)

    def describe(self, row: int) -> str:
        values = self.contexts.row(row, named=True)
        if len(values) == 1:
            return next(iter(values.values()))
        return "; ".join(f"{k}: {v}" for k, v in values.items())

    def scrubbed(self, class_names: list[str]) -> ContextBank:
        """The bank with every class name removed from the phrases (whole words, any case)."""
        names = sorted({n for n in class_names if n.strip()}, key=len, reverse=True)
        if not names:
            return self
        pattern = r"\b(" + "|".join(re.escape(n) for n in names) + r")\b"
        cleaned = self.contexts.with_columns(
            pl.col(c).str.replace_all(f"(?i){pattern}", "").str.replace_all(r"\s+", " ")
            .str.strip_chars() for c in self.contexts.columns)
        return ContextBank(self.ids, self.labels, cleaned)


def bank_from_columns(pool: Pool, columns: list[str]) -> ContextBank:
    missing = [c for c in columns if c not in pool.frame.columns]
    if missing:
        raise CurateError(f"context column '{missing[0]}' is not in the pool",
                          f"columns: {', '.join(pool.frame.columns)}")
    contexts = pool.frame.select(pl.col(c).cast(pl.Utf8).fill_null("") for c in columns)
    return ContextBank(pool.ids, pool.labels(), contexts)


def marginal_plan(bank: ContextBank, per_label: dict[str, int], rng: np.random.Generator
                  ) -> list[tuple[str, int]]:
    """(target label, bank row) per synthetic row: each bank row drawn uniformly from the
    whole bank, whatever its class."""
    return [(label, int(row)) for label, n in sorted(per_label.items())
            for row in rng.integers(0, len(bank), n)]


def chat(model, tokenizer, prompts: list[str], max_new_tokens: int, temperature: float,
         seed: int, batch_size: int = 8) -> list[str]:
    """Sampled completions of single-turn chat prompts (plain prompts for a tokenizer
    without a chat template), in batches with left padding."""
    import torch

    tokenizer.padding_side = "left"
    if tokenizer.chat_template:
        prompts = [tokenizer.apply_chat_template([{"role": "user", "content": p}],
                                                 tokenize=False, add_generation_prompt=True)
                   for p in prompts]
    out = []
    with torch.random.fork_rng(devices=[]), torch.inference_mode(), single_thread():
        torch.manual_seed(seed)
        for start in range(0, len(prompts), batch_size):
            batch = tokenizer(prompts[start:start + batch_size], return_tensors="pt",
                              padding=True, add_special_tokens=not tokenizer.chat_template)
            tokens = model.generate(**batch, do_sample=True, temperature=temperature,
                                    top_p=0.95, max_new_tokens=max_new_tokens,
                                    pad_token_id=tokenizer.pad_token_id)
            new = tokens[:, batch["input_ids"].shape[1]:]
            out += [t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True)]
    return out


@register
class BobTextGenerator(Generator):
    """Text rows from a small instruct LM, conditioned on a class and a marginalised context.

    Args:
        model: causal LM (`builtin:smollm2`, a folder or a Hub id).
        context_columns: pool columns holding each row's context; unset: the LM describes
            each selected row's style (`STYLE_PROMPT`).
        template: the generation prompt, with `{label}` and `{context}`.
        max_new_tokens: length of each generated row.
        temperature: sampling temperature.
        oversample: candidates drawn per wanted row in each round (the probe drops some).
        max_rounds: generation rounds before giving up on rows the probe keeps rejecting.
        batch_size: prompts generated together.
    """

    name = "bob-text"
    modalities = ("text",)

    parameter_constraints = constraints(
        model=Text(),
        context_columns=[None, TextList()],
        template=Text(),
        max_new_tokens=Interval(int, 1, None),
        temperature=Interval(float, 0, None, closed="neither"),  # sampling needs > 0
        oversample=Interval(int, 1, None),
        max_rounds=Interval(int, 1, None),
        batch_size=Interval(int, 1, None),
    )

    def __init__(self, model: str = "builtin:smollm2", context_columns: list[str] | None = None,
                 template: str = TEXT_TEMPLATE, max_new_tokens: int = 160,
                 temperature: float = 0.8, oversample: int = 2, max_rounds: int = 3,
                 batch_size: int = 16):
        self.model = model
        self.context_columns = context_columns
        self.template = template
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.oversample = oversample
        self.max_rounds = max_rounds
        self.batch_size = batch_size

    def _fit(self, real: Pool, pool: Pool | None, seed: int, services: Services) -> None:
        from sklearn.linear_model import LogisticRegression

        from curate.models.causal_lm import load_causal_lm

        if real.schema.text is None:
            raise CurateError("bob-text writes single-text rows", "set data.text_column")
        if services.embed is None:
            raise CurateError("bob-text needs the run's embedding function for its probe",
                              "call it through the synthesize stage or curate bench")
        self.lm_, self.tokenizer_ = load_causal_lm(self.model, services.cache_dir)
        self.embed_ = services.embed
        source = pool if pool is not None else real
        if self.context_columns:
            bank = bank_from_columns(source, self.context_columns)
        else:
            styles = chat(self.lm_, self.tokenizer_, [STYLE_PROMPT.format(text=t[:1500])
                                                      for t in source.texts()],
                          max_new_tokens=24, temperature=0.7, seed=seed,
                          batch_size=self.batch_size)
            bank = ContextBank(source.ids, source.labels(), pl.DataFrame({"style": styles}))
        self.bank_ = bank.scrubbed(self.labels_)
        labels = real.labels()
        self.probe_ = LogisticRegression(C=10.0, max_iter=500, random_state=seed) \
            if len(set(labels)) > 1 else None
        if self.probe_ is not None:
            self.probe_.fit(services.embed(real), labels)

    def _generate_all(self, per_label: dict[str, int], rng: np.random.Generator,
                      filtered: bool) -> list[pl.DataFrame]:
        """All labels at once (batched generation), drawn by `marginal_plan`; filtered rounds
        go on until every label has its rows or `max_rounds` is spent."""
        wanted, kept = dict(per_label), []
        for _ in range(self.max_rounds):  # empty completions are retried even unfiltered
            factor = self.oversample if filtered else 1
            plan = marginal_plan(self.bank_, {k: v * factor for k, v in wanted.items()}, rng)
            texts = chat(self.lm_, self.tokenizer_,
                         [self.template.format(label=label, context=self.bank_.describe(row))
                          for label, row in plan], self.max_new_tokens, self.temperature,
                         int(rng.integers(2**31)), self.batch_size)
            rows = [{"label": label, "text": text, "row": row}
                    for (label, row), text in zip(plan, texts, strict=True) if text]
            for row in self._probe_filter(rows) if filtered else rows:
                if wanted.get(row["label"], 0) > 0:
                    wanted[row["label"]] -= 1
                    kept.append(row)
            wanted = {k: v for k, v in wanted.items() if v > 0}
            if not wanted:
                break
        return [self._frame(sorted(kept, key=lambda r: r["label"]))]  # stable: round order

    def _probe_filter(self, rows: list[dict]) -> list[dict]:
        if self.probe_ is None or not rows:
            return rows
        texts = Pool(frame=pl.DataFrame({"id": [str(i) for i in range(len(rows))],
                                         "text": [r["text"] for r in rows]}),
                     schema=Schema(text="text"), origin="bob-text candidates")
        proba = self.probe_.predict_proba(self.embed_(texts))
        classes = list(self.probe_.classes_)
        out = []
        for row, p in zip(rows, proba, strict=True):
            if classes[int(np.argmax(p))] == row["label"]:
                out.append({**row, "p": float(p[classes.index(row["label"])])})
        return out

    def _frame(self, rows: list[dict]) -> pl.DataFrame:
        schema = self.schema_
        reasons = [f"context of row {self.bank_.ids[r['row']]} ({self.bank_.describe(r['row'])})"
                   + (f"; probe P({r['label']}) = {r['p']:.2f}" if "p" in r else "")
                   for r in rows]
        return pl.DataFrame({schema.text: [r["text"] for r in rows],
                             schema.label: [r["label"] for r in rows],
                             "parent_id": [str(self.bank_.ids[r["row"]]) for r in rows],
                             "reason": reasons},
                            schema={schema.text: pl.Utf8, schema.label: pl.Utf8,
                                    "parent_id": pl.Utf8, "reason": pl.Utf8})
