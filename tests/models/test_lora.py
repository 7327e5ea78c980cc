import pytest

from curate.config import LoraConfig
from curate.models.lora import build_examples, heldout_loss, train_lora


def test_prompt_tokens_are_masked(tiny_lm, chat_rows):
    from curate.models.causal_lm import load_causal_lm

    _, tokenizer = load_causal_lm(tiny_lm, cache_dir="unused")
    example = build_examples(tokenizer, ["hello there"], ["hi friend"])[0]
    n_prompt = len(tokenizer("hello there\n", add_special_tokens=False)["input_ids"])
    assert example.labels[:n_prompt] == [-100] * n_prompt
    assert example.labels[n_prompt:] == example.input_ids[n_prompt:]


@pytest.mark.usefixtures("one_thread")
def test_lora_lowers_heldout_loss_and_trains_only_adapters(tiny_lm, chat_rows):
    from curate.models.causal_lm import load_causal_lm

    model, tokenizer = load_causal_lm(tiny_lm, cache_dir="unused")
    examples = build_examples(tokenizer, *chat_rows, max_length=64)
    train, test = examples[:-60], examples[-60:]
    before = heldout_loss(model, test, tokenizer.pad_token_id)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters()}
    settings = LoraConfig(rank=8, learning_rate=2e-2, epochs=8, batch_size=16,
                          target_modules=["q_proj", "v_proj", "o_proj", "up_proj", "down_proj"])
    peft_model, result = train_lora(model, train, tokenizer.pad_token_id, settings, seed=0)
    after = heldout_loss(peft_model, test, tokenizer.pad_token_id)
    assert after < before - 0.5, (before, after)
    assert result.losses[-1] < result.losses[0]
    base = dict(peft_model.get_base_model().named_parameters())
    unchanged = [n for n, p in frozen.items()
                 if "lora" not in n and (base[n.replace(".weight", ".base_layer.weight")]
                                         if n.replace(".weight", ".base_layer.weight") in base
                                         else base[n]).equal(p)]
    assert len(unchanged) == len(frozen)  # the base weights never move
