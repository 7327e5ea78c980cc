"""An image context bank from a captioning model: one caption per real image, class names
scrubbed, as BOB's context phrases.

Any Hugging Face image-to-text model that `AutoModelForImageTextToText` loads and that
captions from pixels alone works (BLIP, GIT, a ViT + GPT-2 VisionEncoderDecoder, ...). The
official BOB code asks a chat VLM separate questions for background and pose; prompted VLMs are
not supported here: give such phrases as context columns instead.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from curate.data.pool import Pool
from curate.errors import CurateError
from curate.synth.base import single_thread
from curate.synth.bob import ContextBank


def rgb_images(pool: Pool) -> np.ndarray:
    """The pool's images as (N, H, W, 3) uint8; grey images are repeated over 3 channels."""
    shape = pool.schema.image_shape
    if shape is None or len(shape) not in (2, 3) or (len(shape) == 3 and shape[-1] != 3):
        raise CurateError(f"BOB needs images of shape (H, W) or (H, W, 3), not {shape}",
                          "set the pool's image shape (builtin image pools have one)")
    images = pool.images()
    if images.dtype != np.uint8:
        images = np.clip(np.round(images), 0, 255).astype(np.uint8)
    return np.repeat(images[..., None], 3, -1) if images.ndim == 3 else images


def load_captioner(name: str):
    """(model, image processor, tokenizer) for an image-to-text model folder or Hub id."""
    import torch
    from transformers import AutoImageProcessor, AutoModelForImageTextToText, AutoTokenizer

    try:
        model = AutoModelForImageTextToText.from_pretrained(name, dtype=torch.float32).eval()
        return model, AutoImageProcessor.from_pretrained(name), AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as err:
        raise CurateError(f"cannot load captioning model {name}: {str(err).splitlines()[0]}",
                          "name an image-to-text model (folder or Hub id), pre-downloaded "
                          "when HF_HUB_OFFLINE is set") from None


def caption_images(images: np.ndarray, captioner, max_new_tokens: int = 30,
                   batch_size: int = 16) -> list[str]:
    """Greedy captions of (N, H, W, 3) uint8 images."""
    import torch
    from PIL import Image

    model, processor, tokenizer = captioner
    out = []
    with torch.inference_mode(), single_thread():
        for start in range(0, len(images), batch_size):
            batch = [Image.fromarray(x) for x in images[start:start + batch_size]]
            pixels = processor(images=batch, return_tensors="pt")["pixel_values"]
            tokens = model.generate(pixel_values=pixels, do_sample=False,
                                    max_new_tokens=max_new_tokens)
            out += [t.strip() for t in tokenizer.batch_decode(tokens, skip_special_tokens=True)]
    return out


def caption_bank(pool: Pool, captioner, class_names: list[str], max_new_tokens: int = 30
                 ) -> ContextBank:
    """One `caption` context per row, with the class names scrubbed out."""
    captions = caption_images(rgb_images(pool), captioner, max_new_tokens)
    bank = ContextBank(pool.ids, pool.labels(), pl.DataFrame({"caption": captions}))
    return bank.scrubbed(class_names)
