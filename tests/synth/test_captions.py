"""BOB's image context bank from a tiny random captioning model (ViT encoder + GPT-2 decoder)."""

import numpy as np
import polars as pl
import pytest

from curate.data import Pool, Schema
from curate.synth.captions import caption_bank, caption_images, load_captioner, rgb_images

WORDS = ["cat", "dog", "on", "grass", "street"]


@pytest.fixture(scope="module")
def tiny_captioner(tmp_path_factory) -> str:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        GPT2Config,
        PreTrainedTokenizerFast,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessor,
    )

    vocab = {w: i for i, w in enumerate(["<pad>", "<unk>", "<s>", "</s>", *WORDS])}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="<pad>", unk_token="<unk>",
                                        bos_token="<s>", eos_token="</s>")
    encoder = ViTConfig(image_size=16, patch_size=8, hidden_size=16, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=32, initializer_range=0.5)
    decoder = GPT2Config(vocab_size=len(vocab), n_embd=16, n_layer=1, n_head=2, n_positions=32,
                         bos_token_id=2, eos_token_id=3, pad_token_id=0,
                         initializer_range=0.5)  # random captions that vary by image
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id, config.pad_token_id, config.eos_token_id = 2, 0, 3
    torch.manual_seed(0)
    model = VisionEncoderDecoderModel(config=config)
    model.generation_config.decoder_start_token_id = 2
    folder = tmp_path_factory.mktemp("tiny-captioner")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    ViTImageProcessor(size={"height": 16, "width": 16}).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def grey_pool() -> Pool:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (12, 64), dtype=np.uint8)
    frame = pl.DataFrame({"id": [f"r{i}" for i in range(12)],
                          "pixels": pl.Series(pixels, dtype=pl.Array(pl.UInt8, 64)),
                          "label": ["cat", "dog"] * 6})
    return Pool(frame=frame, schema=Schema(image="pixels", label="label", image_shape=(8, 8)),
                origin="noise")


def test_grey_images_become_three_equal_channels(grey_pool):
    rgb = rgb_images(grey_pool)
    assert rgb.shape == (12, 8, 8, 3) and rgb.dtype == np.uint8
    assert (rgb == grey_pool.images()[..., None]).all()


def test_caption_bank_holds_each_rows_caption_without_class_names(tiny_captioner, grey_pool):
    captioner = load_captioner(tiny_captioner)
    raw = caption_images(rgb_images(grey_pool), captioner, max_new_tokens=8)
    assert len(raw) == 12
    assert caption_images(rgb_images(grey_pool), captioner, max_new_tokens=8) == raw
    assert any({"cat", "dog"} & set(c.split()) for c in raw)  # the scrub has work to do
    bank = caption_bank(grey_pool, captioner, ["cat", "dog"], max_new_tokens=8)
    assert list(bank.ids) == list(grey_pool.ids)
    for caption, phrase in zip(raw, bank.contexts["caption"], strict=True):
        assert phrase == " ".join(w for w in caption.split() if w not in ("cat", "dog"))
