"""Effort for prompt/response rows: the gradient norm of the target LM's loss over one LoRA B.

As the official DEALRec code: LoRA adapters are attached to the target model, and each
sample's effort is the norm of its loss gradient over the B matrix of the last layer's
adapter (here the last layer's v_proj by default), in fp32. The per-sample norms come from
the layer's inputs and output gradients (`per_sample_grad_norms`), one batched backward
pass per batch; the base model is never updated.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from curate.models.lora import IGNORE, batches, build_examples
from curate.scoring.effort import per_sample_grad_norms


def last_lora_b(peft_model, module: str = "v_proj"):
    """The LoRA B linear layer of `module` in the model's last transformer layer."""
    candidates = [m for name, m in peft_model.named_modules()
                  if name.endswith(f"{module}.lora_B.default")]
    if not candidates:
        raise ValueError(f"no LoRA adapter on a '{module}' module")
    return candidates[-1]


def lm_effort(model, tokenizer, prompts: list[str], responses: list[str], rank: int = 8,
              module: str = "v_proj", max_length: int = 256, batch_size: int = 8,
              seed: int = 0) -> np.ndarray:
    """||d loss_i / d B|| for every row, loss_i = mean cross-entropy of its response tokens."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    peft_model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank,
                                                  lora_dropout=0.0, target_modules=[module],
                                                  task_type="CAUSAL_LM")).float().eval()
    examples = build_examples(tokenizer, prompts, responses, max_length)
    if len(examples) != len(prompts):
        raise ValueError("every row needs at least one response token within max_length")
    padded = list(batches(examples, batch_size, tokenizer.pad_token_id))

    def batch_losses(rows: slice):
        batch = padded[rows.start // batch_size]
        logits = peft_model(input_ids=batch["input_ids"],
                            attention_mask=batch["attention_mask"]).logits[:, :-1]
        target = batch["labels"][:, 1:]
        token_loss = torch.nn.functional.cross_entropy(
            logits.transpose(1, 2), target, ignore_index=IGNORE, reduction="none")
        return token_loss.sum(1) / (target != IGNORE).sum(1).clamp(min=1)

    norms = per_sample_grad_norms(last_lora_b(peft_model, module), batch_losses, len(examples),
                                  batch_size)
    peft_model.zero_grad(set_to_none=True)
    return norms


def lm_effort_for(model_name: str, cache_dir: Path, prompts: list[str], responses: list[str],
                  **settings) -> np.ndarray:
    from curate.models.causal_lm import load_causal_lm

    model, tokenizer = load_causal_lm(model_name, cache_dir)
    return lm_effort(model, tokenizer, prompts, responses, **settings)
