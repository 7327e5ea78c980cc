"""BOB's diffusers backend on a tiny random Stable Diffusion pipeline built in the test."""

import json
import string

import numpy as np
import polars as pl
import pytest

from curate.data import Pool, Schema
from curate.errors import CurateError
from curate.synth import make_generator
from curate.synth.captions import caption_bank, load_captioner
from curate.synth.diffusion import TEXT_LORA_MODULES, UNET_LORA_MODULES, load_pipeline
from tests.synth import test_captions

pytest.importorskip("diffusers")

tiny_captioner = test_captions.tiny_captioner  # the fixture, shared with the captions tests


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory) -> str:
    """Tiny random UNet, VAE and CLIP text encoder; a character-level
    CLIP tokenizer (no merges)."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDPMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    folder = tmp_path_factory.mktemp("tiny-sd")
    chars = list(string.ascii_lowercase)
    vocab = {t: i for i, t in enumerate(["<|startoftext|>", "<|endoftext|>", *chars,
                                         *(c + "</w>" for c in chars)])}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"),
                              model_max_length=32, pad_token="<|endoftext|>")
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=8, block_out_channels=(8, 16), layers_per_block=1, cross_attention_dim=16,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), norm_num_groups=4,
        attention_head_dim=4)
    vae = AutoencoderKL(block_out_channels=(8, 16), latent_channels=4, norm_num_groups=4,
                        down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, sample_size=16)
    text = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, max_position_embeddings=32, bos_token_id=0, eos_token_id=1,
        pad_token_id=1))
    StableDiffusionPipeline(
        vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet,
        scheduler=DDPMScheduler(num_train_timesteps=100), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False).save_pretrained(folder / "sd")
    return str(folder / "sd")


@pytest.fixture(scope="module")
def grey_pool() -> Pool:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (6, 64), dtype=np.uint8)
    frame = pl.DataFrame({"id": [f"r{i}" for i in range(6)],
                          "pixels": pl.Series(pixels, dtype=pl.Array(pl.UInt8, 64)),
                          "label": ["cat", "dog"] * 3,
                          "background": ["grass", "street", "cat bed", "sofa", "sand", "snow"],
                          "pose": ["sitting", "running"] * 3})
    return Pool(frame=frame, schema=Schema(image="pixels", label="label", image_shape=(8, 8)),
                origin="noise")


def fitted(tiny_sd, pool, steps):
    params = {"model": tiny_sd, "context_columns": ["background", "pose"], "steps": steps,
              "batch_size": 3, "lr": 1e-2, "resolution": 16, "inference_steps": 2,
              "template": "a photo of a {label} in the {background} background with the "
                          "{pose} pose"}
    return make_generator("bob-diffusion", params).fit(pool, seed=1)


def test_one_lora_step_trains_only_rank_16_adapters_on_the_attention_projections(
        tiny_sd, grey_pool):
    base = load_pipeline(tiny_sd)
    untrained, trained = fitted(tiny_sd, grey_pool, 0), fitted(tiny_sd, grey_pool, 1)
    before, after = untrained.pipe_, trained.pipe_
    for part, targets in (("unet", UNET_LORA_MODULES), ("text_encoder", TEXT_LORA_MODULES)):
        module = getattr(after, part)
        expected = {name for name, _ in getattr(base, part).named_modules()
                    if any(name == t or name.endswith("." + t) for t in targets)}
        adapted = {name for name, m in module.named_modules() if hasattr(m, "lora_A")}
        assert adapted == expected and expected
        trainable = {n: p for n, p in module.named_parameters() if p.requires_grad}
        assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
        assert all(p.shape[0] == 16 for n, p in trainable.items() if ".lora_A." in n)
        assert all(p.shape[1] == 16 for n, p in trainable.items() if ".lora_B." in n)
        start = dict(getattr(before, part).named_parameters())
        moved = [n for n, p in trainable.items() if not p.detach().equal(start[n].detach())]
        assert any(".lora_B." in n for n in moved)  # B starts at 0: only a gradient moves it
        original = dict(getattr(base, part).named_parameters())
        for name, p in module.named_parameters():
            if not p.requires_grad:
                assert p.detach().equal(original[name.replace("base_layer.", "")].detach())
    assert not untrained.generate({"cat": 2}, seed=0)["pixels"].equals(  # generation uses it
        trained.generate({"cat": 2}, seed=0)["pixels"])


def test_generation_is_seeded_and_rows_fit_the_pool(tiny_sd, grey_pool):
    gen = fitted(tiny_sd, grey_pool, 1)
    rows = gen.generate({"cat": 3, "dog": 2}, seed=4)
    assert rows.equals(gen.generate({"cat": 3, "dog": 2}, seed=4))
    assert not rows["pixels"].equals(gen.generate({"cat": 3, "dog": 2}, seed=5)["pixels"])
    assert rows.schema["pixels"] == grey_pool.frame.schema["pixels"]  # uint8, 64 per row
    assert rows["label"].to_list() == ["cat"] * 3 + ["dog"] * 2
    assert (rows["source"] == "bob-diffusion").all() and rows["id"].str.starts_with(
        "synth-").all()
    bank = grey_pool.frame.select("id", "background", "pose")
    for row in rows.iter_rows(named=True):
        parent = bank.filter(pl.col("id") == row["parent_id"]).row(0, named=True)
        background = parent["background"].replace("cat ", "")  # class names scrubbed
        assert f"background: {background}; pose: {parent['pose']}" in row["reason"]


def test_context_source_and_template_errors_are_curate_errors(tiny_sd, grey_pool):
    with pytest.raises(CurateError, match="exactly one"):
        make_generator("bob-diffusion", {"model": tiny_sd}).fit(grey_pool)
    with pytest.raises(CurateError, match="unknown field"):
        make_generator("bob-diffusion", {"model": tiny_sd, "context_columns": ["pose"],
                                         "template": "{label} {background}"}).fit(grey_pool)


def test_a_captioner_gives_the_bank_and_the_prompts(tiny_sd, tiny_captioner, grey_pool):
    gen = make_generator("bob-diffusion", {"model": tiny_sd, "captioner": tiny_captioner,
                                           "steps": 1, "resolution": 16, "inference_steps": 1,
                                           "caption_tokens": 8}).fit(grey_pool, seed=0)
    bank = caption_bank(grey_pool, load_captioner(tiny_captioner), ["cat", "dog"], 8)
    assert gen.bank_.contexts.equals(bank.contexts)
    rows = gen.generate({"dog": 3}, seed=0)
    for row in rows.iter_rows(named=True):
        caption = bank.contexts["caption"][list(bank.ids).index(row["parent_id"])]
        assert row["reason"].endswith(f"({caption})")
