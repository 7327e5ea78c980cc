import numpy as np
import pytest
import torch

from curate.models.causal_lm import load_causal_lm
from curate.scoring import lm_scores as lm
from curate.store import ArtifactCache


def _mean_loss(model, ids: list[int], first_scored: int) -> float:
    """Mean cross-entropy of ids[first_scored:], one unpadded forward pass."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0]
    return float(torch.nn.functional.cross_entropy(logits[first_scored - 1:-1],
                                                   torch.tensor(ids[first_scored:])))


def test_ifd_equals_a_two_pass_computation_by_hand(tiny_lm, chat_rows, one_thread):
    """The tiny tokenizer has no chat template: a row is "prompt\\n" + response + "</s>";
    without the prompt the response follows the EOS token (the tokenizer has no BOS)."""
    prompts, responses = chat_rows[0][:14], chat_rows[1][:14]
    model, tokenizer = load_causal_lm(tiny_lm, "unused")
    fast = lm.score_rows(model, tokenizer, prompts, responses, batch_size=5, max_length=256,
                         device="cpu")
    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    eos = tokenizer.eos_token_id
    for i, (prompt, response) in enumerate(zip(prompts, responses, strict=True)):
        head = encode(f"{prompt}\n")
        with_prompt = _mean_loss(model, head + encode(response) + [eos], len(head))
        alone = _mean_loss(model, [eos, *encode(response), eos], 1)
        assert fast["lm_loss"][i] == pytest.approx(with_prompt, abs=1e-4)
        assert fast["lm_loss_alone"][i] == pytest.approx(alone, abs=1e-4)
        assert fast["ifd"][i] == pytest.approx(with_prompt / alone, abs=1e-4)
        assert fast["response_tokens"][i] == len(encode(response))


def test_long_rows_keep_response_tokens_and_both_passes_score_the_same_ones(tiny_lm, chat_rows):
    _, tokenizer = load_causal_lm(tiny_lm, "unused")
    prompts = [" ".join(chat_rows[0][:30]), "hi"]  # a prompt far over max_length, a short one
    responses = [chat_rows[1][0], " ".join(chat_rows[1][:30])]
    with_prompt, alone, lengths = lm.tokenise(tokenizer, prompts, responses, max_length=16)
    assert all(len(s.ids) <= 16 for s in with_prompt)
    assert [s.scored for s in with_prompt] == [s.scored for s in alone]
    assert all(s.scored > 0 for s in with_prompt)
    assert with_prompt[1].scored < lengths[1]  # the long response was cut, not the short prompt


def test_the_cache_scores_only_new_rows(tiny_lm, chat_rows, tmp_path, monkeypatch, one_thread):
    prompts, responses = chat_rows[0][:30], chat_rows[1][:30]
    cache = ArtifactCache(tmp_path)
    first = lm.lm_scores(prompts[:20], responses[:20], tiny_lm, cache, max_length=64)
    scored = []
    original = lm.score_rows

    def counting(model, tokenizer, p, r, *args, **kwargs):
        scored.extend(p)
        return original(model, tokenizer, p, r, *args, **kwargs)

    monkeypatch.setattr(lm, "score_rows", counting)
    grown = lm.lm_scores(prompts, responses, tiny_lm, cache, max_length=64)
    assert len(scored) == 10 and set(scored) <= set(prompts[20:])
    for name in lm.LM_SCORES:
        assert np.allclose(grown[name][:20], first[name]), name
        assert np.isfinite(grown[name]).all()
    again = lm.lm_scores(prompts[::-1], responses[::-1], tiny_lm, cache, max_length=64)
    assert len(scored) == 10  # every row known, in any order
    assert np.allclose(again["ifd"], grown["ifd"][::-1])
    lm.lm_scores(prompts[:3], responses[:3], tiny_lm, cache, max_length=32)
    assert len(scored) == 13  # other settings, another cache folder
