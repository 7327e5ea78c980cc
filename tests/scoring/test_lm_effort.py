import numpy as np
import torch

from curate.models.causal_lm import load_causal_lm
from curate.scoring.lm_effort import last_lora_b, lm_effort


def test_lm_effort_equals_per_sample_backward_loop(tiny_lm, chat_rows):
    prompts, responses = chat_rows[0][:12], chat_rows[1][:12]
    model, tokenizer = load_causal_lm(tiny_lm, cache_dir="unused")
    fast = lm_effort(model, tokenizer, prompts, responses, batch_size=5, max_length=48)

    model, tokenizer = load_causal_lm(tiny_lm, cache_dir="unused")
    from peft import LoraConfig, get_peft_model

    from curate.models.lora import build_examples

    torch.manual_seed(0)
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                                                  target_modules=["v_proj"],
                                                  task_type="CAUSAL_LM")).eval()
    layer = last_lora_b(peft_model)
    loop = []
    for e in build_examples(tokenizer, prompts, responses, 48):
        peft_model.zero_grad()
        ids, labels = torch.tensor([e.input_ids]), torch.tensor([e.labels])
        logits = peft_model(input_ids=ids).logits[:, :-1]
        loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels[:, 1:],
                                                 ignore_index=-100)
        loss.backward()
        loop.append(float(layer.weight.grad.norm()))
    assert np.allclose(fast, loop, rtol=1e-3, atol=1e-7)
    assert (fast > 0).all()
