"""The LoRA core that training, scoring and the bench share: tokenised prompt/response rows,
padded batches, held-out loss per response token, and peft's adapter settings.

The loss is over response tokens only (prompt tokens are masked with -100), the usual
supervised fine-tuning objective; rows are formatted with the tokenizer's chat template
when it has one, as TRL's prompt-completion format renders them. Training itself is TRL's
(`curate.train.sft`), for the hand-off and the bench alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from curate.config import LoraConfig

IGNORE = -100
# peft's usual adapter dropout; not a setting of its own (no user has needed one).
LORA_DROPOUT = 0.05


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]


def render_row(tokenizer, prompt: str, response: str) -> tuple[str, str]:
    """(prompt text, full text): the response is everything after the prompt text."""
    if getattr(tokenizer, "chat_template", None):
        messages = [{"role": "user", "content": prompt}]
        head = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        answer = {"role": "assistant", "content": response}
        full = tokenizer.apply_chat_template([*messages, answer], tokenize=False)
        return head, full
    head = f"{prompt}\n"
    return head, head + response + (tokenizer.eos_token or "")


def build_examples(tokenizer, prompts: list[str], responses: list[str],
                   max_length: int = 256) -> list[Example]:
    """Tokenise rows; labels copy the response tokens and mask the prompt."""
    examples = []
    for prompt, response in zip(prompts, responses, strict=True):
        head, full = render_row(tokenizer, prompt, response)
        n_head = len(tokenizer(head, add_special_tokens=False)["input_ids"])
        ids = tokenizer(full, add_special_tokens=False)["input_ids"][:max_length]
        labels = [IGNORE] * min(n_head, len(ids)) + ids[n_head:]
        if any(label != IGNORE for label in labels):
            examples.append(Example(ids, labels))
    return examples


def batches(examples: list[Example], batch_size: int, pad_id: int, order=None):
    import torch

    order = np.arange(len(examples)) if order is None else order
    for start in range(0, len(order), batch_size):
        chunk = [examples[i] for i in order[start:start + batch_size]]
        width = max(len(e.input_ids) for e in chunk)
        ids = torch.full((len(chunk), width), pad_id)
        labels = torch.full((len(chunk), width), IGNORE)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, e in enumerate(chunk):
            ids[row, :len(e.input_ids)] = torch.tensor(e.input_ids)
            labels[row, :len(e.labels)] = torch.tensor(e.labels)
            mask[row, :len(e.input_ids)] = 1
        yield {"input_ids": ids, "labels": labels, "attention_mask": mask}


def heldout_loss(model, examples: list[Example], pad_id: int, batch_size: int = 8) -> float:
    """Mean cross-entropy per response token over `examples`."""
    import torch

    model.eval()
    device = next(model.parameters()).device  # a trainer may have moved it to the GPU
    total, tokens = 0.0, 0
    with torch.inference_mode():
        for batch in batches(examples, batch_size, pad_id):
            batch = {name: tensor.to(device) for name, tensor in batch.items()}
            logits = model(input_ids=batch["input_ids"],
                           attention_mask=batch["attention_mask"]).logits[:, :-1]
            target = batch["labels"][:, 1:]
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]).float(), target.reshape(-1),
                ignore_index=IGNORE, reduction="sum")
            total += float(loss)
            tokens += int((target != IGNORE).sum())
    return total / max(tokens, 1)


def perplexity(loss: float) -> float:
    return math.exp(min(loss, 50.0))


def peft_lora_config(settings: LoraConfig):
    """peft's LoraConfig for a causal LM from curate's `LoraConfig` section."""
    from peft import LoraConfig as PeftLoraConfig

    return PeftLoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=LORA_DROPOUT,
                          target_modules=list(settings.target_modules), task_type="CAUSAL_LM")
