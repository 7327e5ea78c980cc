
from curate.models.lora import build_examples


def test_prompt_tokens_are_masked(tiny_lm, chat_rows):
    from curate.models.causal_lm import load_causal_lm

    _, tokenizer = load_causal_lm(tiny_lm, cache_dir="unused")
    example = build_examples(tokenizer, ["hello there"], ["hi friend"])[0]
    n_prompt = len(tokenizer("hello there\n", add_special_tokens=False)["input_ids"])
    assert example.labels[:n_prompt] == [-100] * n_prompt
    assert example.labels[n_prompt:] == example.input_ids[n_prompt:]
