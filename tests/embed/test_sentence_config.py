"""A model's own sentence-transformers config is honoured (issue 14): pooling from
`1_Pooling/config.json`, prompts from `config_sentence_transformers.json`, max length from
`sentence_bert_config.json`; the cache key records all of it. The models are copies of the
bundled MiniLM with edited configs, compared with a direct computation."""

import json
import shutil

import numpy as np
import pytest

from curate.config import EmbedConfig
from curate.data.pool import Pool, Schema
from curate.embed import embedding_key
from curate.embed.models import resolve_model
from curate.embed.text import TextEncoder, sentence_config
from curate.errors import CurateError

TEXTS = ["a young dog plays in the park", "the stock market fell sharply",
         "a bowl of hot soup", "quantum computers factor numbers", "rain"]


def minilm_copy(folder, pooling=None, prompts=None, modules_extra=(), bert=None):
    """MiniLM's files in `folder` (weights linked, configs copied and edited)."""
    source = resolve_model("builtin:minilm")
    skip = shutil.ignore_patterns("model.safetensors", "README.md", "data_config.json")
    shutil.copytree(source, folder, ignore=skip)
    (folder / "model.safetensors").symlink_to(f"{source}/model.safetensors")
    if pooling is not None:
        config = {"word_embedding_dimension": 384, **{
            f"pooling_mode_{m}": False for m in ("cls_token", "mean_tokens", "max_tokens",
                                                 "mean_sqrt_len_tokens")}, **pooling}
        (folder / "1_Pooling" / "config.json").write_text(json.dumps(config))
    if prompts is not None:
        (folder / "config_sentence_transformers.json").write_text(json.dumps(prompts))
    if modules_extra:
        modules = json.loads((folder / "modules.json").read_text()) + list(modules_extra)
        (folder / "modules.json").write_text(json.dumps(modules))
    if bert is not None:
        (folder / "sentence_bert_config.json").write_text(json.dumps(bert))
    return str(folder)


@pytest.fixture(scope="module")
def direct():
    """Token states of MiniLM computed with transformers directly, and the mask."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = resolve_model("builtin:minilm")
    tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path)

    def states(texts, max_length=256):
        batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length,
                          return_tensors="pt")
        with torch.inference_mode():
            return model(**batch).last_hidden_state.numpy(), batch["attention_mask"].numpy()

    states.tokenizer = tokenizer
    return states


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def mean_pool(hidden, mask):
    return unit((hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True))


def test_cls_pooling_config_gives_cls_vectors(tmp_path, direct):
    model = minilm_copy(tmp_path / "cls", pooling={"pooling_mode_cls_token": True})
    assert sentence_config(model).pooling == ("cls",)
    vectors = TextEncoder(model, precision="fp32").encode(TEXTS)
    hidden, mask = direct(TEXTS)
    assert np.min(np.sum(vectors * unit(hidden[:, 0]), axis=1)) >= 0.9999
    assert np.max(np.sum(vectors * mean_pool(hidden, mask), axis=1)) < 0.99
    # An explicit embed.pooling still wins over the model's config.
    mean = TextEncoder(model, pooling="mean", precision="fp32").encode(TEXTS)
    assert np.min(np.sum(mean * mean_pool(hidden, mask), axis=1)) >= 0.9999


def test_minilm_itself_keeps_mean_pooling_and_its_cache_key(direct):
    encoder = TextEncoder(precision="fp32")
    assert encoder.settings() == {"pooling": ("mean",), "include_prompt": True,
                                  "max_length": 256, "prompt": ""}
    key = encoder.config_key()
    assert (key["pooling"], key["max_length"], "prompt" in key) == ("mean", 256, False)


def test_prompts_prefix_every_row(tmp_path, direct):
    model = minilm_copy(tmp_path / "e5", prompts={
        "prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": "passage"})
    cases = {None: "passage: ", "query": "query: ", "Represent this: ": "Represent this: "}
    for prompt, prefix in cases.items():
        vectors = TextEncoder(model, precision="fp32", prompt=prompt).encode(TEXTS)
        hidden, mask = direct([prefix + t for t in TEXTS])
        assert np.min(np.sum(vectors * mean_pool(hidden, mask), axis=1)) >= 0.9999, prompt
        plain = mean_pool(*direct(TEXTS))
        assert np.max(np.sum(vectors * plain, axis=1)) < 0.9999


def test_prompt_left_out_of_pooling(tmp_path, direct):
    model = minilm_copy(tmp_path / "instr", pooling={"pooling_mode_mean_tokens": True,
                                                      "include_prompt": False})
    vectors = TextEncoder(model, precision="fp32", prompt="query: ").encode(TEXTS)
    hidden, mask = direct(["query: " + t for t in TEXTS])
    skip = len(direct.tokenizer("query: ")["input_ids"]) - 1
    mask = mask.copy()
    mask[:, :skip] = 0
    assert np.min(np.sum(vectors * mean_pool(hidden, mask), axis=1)) >= 0.9999


def test_max_seq_length_and_concatenated_modes(tmp_path, direct):
    model = minilm_copy(tmp_path / "short", bert={"max_seq_length": 6},
                        pooling={"pooling_mode_cls_token": True, "pooling_mode_max_tokens": True})
    encoder = TextEncoder(model, precision="fp32")
    vectors = encoder.encode(TEXTS)
    assert encoder.settings()["max_length"] == 6 and vectors.shape == (5, 768)
    hidden, mask = direct(TEXTS, max_length=6)
    masked = np.where(mask[..., None] > 0, hidden, -1e9)
    expected = unit(np.concatenate([hidden[:, 0], masked.max(1)], axis=1))
    assert np.min(np.sum(vectors * expected, axis=1)) >= 0.9999


def test_cache_key_includes_the_model_config(tmp_path):
    pool = Pool(frame=__import__("polars").DataFrame({"id": ["a"], "text": ["x"]}),
                schema=Schema(text="text"), origin="t")
    cls = minilm_copy(tmp_path / "cls", pooling={"pooling_mode_cls_token": True})
    e5 = minilm_copy(tmp_path / "e5", prompts={"prompts": {"passage": "passage: "},
                                               "default_prompt_name": "passage"})
    keys = {embedding_key(pool, EmbedConfig(model=m, precision="fp32", **extra))
            for m, extra in [(cls, {}), (e5, {}), (e5, {"prompt": "other: "}),
                             ("builtin:minilm", {}), ("builtin:minilm", {"pooling": "cls"})]}
    assert len(keys) == 5


def test_a_module_curate_cannot_apply_is_an_error(tmp_path):
    model = minilm_copy(tmp_path / "dense", modules_extra=[
        {"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"}])
    with pytest.raises(CurateError, match=r"modules curate does not apply: Dense \(3_Dense\)"):
        TextEncoder(model).encode(["x"])
