"""Sentence embeddings with any transformers encoder: length-sorted batches, pooling, L2 norm.

A model with a sentence-transformers config (`modules.json`) is embedded the way that
library would: its `1_Pooling/config.json` pooling (cls, mean, max, mean_sqrt_len,
weightedmean, lasttoken; several modes concatenate), `include_prompt`, the
`max_seq_length` of `sentence_bert_config.json` and the prompts of
`config_sentence_transformers.json` (its `default_prompt_name`, or the one `embed.prompt`
names). Vectors are always L2-normalised (the model's `Normalize` module changes nothing
then). A module curate cannot apply (a `Dense` projection...) is a clear error rather than
silently different vectors.

Precision: fp32 or bf16 weights run in torch; int8 runs the same encoder through ONNX Runtime
(`curate.embed.int8`); auto picks by the measured rules of `curate.embed.device`. A static
model (`builtin:minilm-static` or any model2vec folder, `curate.embed.static`) has no
transformer: its vectors are means of token rows, computed in numpy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from curate.embed import static
from curate.embed.device import autocast_dtype, choose_precision, resolve_device
from curate.embed.models import model_identity, models_dir, read_model_json, resolve_model
from curate.errors import CurateError

# sentence-transformers' pooling modes, in the order it concatenates them.
POOLING_MODES = {"cls": "pooling_mode_cls_token", "max": "pooling_mode_max_tokens",
                 "mean": "pooling_mode_mean_tokens",
                 "mean_sqrt_len": "pooling_mode_mean_sqrt_len_tokens",
                 "weightedmean": "pooling_mode_weightedmean_tokens",
                 "lasttoken": "pooling_mode_lasttoken"}
DEFAULT_MAX_LENGTH = 256


@dataclass(frozen=True)
class SentenceConfig:
    """What a model's sentence-transformers files say about embedding with it."""

    pooling: tuple[str, ...] | None = None
    include_prompt: bool = True
    normalize: bool = False
    max_seq_length: int | None = None
    prompts: dict[str, str] = field(default_factory=dict)
    default_prompt_name: str | None = None
    unsupported: tuple[str, ...] = ()


def sentence_config(name: str) -> SentenceConfig | None:
    """The model's sentence-transformers config, or None when it has no `modules.json`."""
    modules = read_model_json(name, "modules.json")
    if not isinstance(modules, list):
        return None
    values: dict = {"unsupported": []}
    for module in modules:
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        path = str(module.get("path", "")).strip("/")
        prefix = f"{path}/" if path else ""
        if kind == "Transformer":
            bert = read_model_json(name, f"{prefix}sentence_bert_config.json") or {}
            if bert.get("max_seq_length"):
                values["max_seq_length"] = int(bert["max_seq_length"])
        elif kind == "Pooling":
            pooling = read_model_json(name, f"{prefix}config.json") or {}
            modes = tuple(m for m, k in POOLING_MODES.items() if pooling.get(k))
            values["pooling"] = modes or None
            values["include_prompt"] = bool(pooling.get("include_prompt", True))
        elif kind == "Normalize":
            values["normalize"] = True
        else:
            values["unsupported"].append(f"{kind} ({path or 'root'})")
    prompts = read_model_json(name, "config_sentence_transformers.json") or {}
    values["prompts"] = dict(prompts.get("prompts") or {})
    values["default_prompt_name"] = prompts.get("default_prompt_name")
    values["unsupported"] = tuple(values["unsupported"])
    return SentenceConfig(**values)


class TextEncoder:
    """Pooled, L2-normalised sentence vectors from a transformers encoder.

    Args:
        model: `builtin:minilm`, a local folder or a Hub id.
        pooling: `auto` (the model's sentence-transformers pooling, else mean), or one of
            `mean` (over the attention mask), `cls`, `max`, `mean_sqrt_len`,
            `weightedmean`, `lasttoken`.
        max_length: tokens kept per text; None: the model's `max_seq_length`, else 256.
        batch_size: texts per forward pass; batches are sorted by length to avoid padding.
        precision: `auto` (the rule table of `curate.embed.device`), `fp32`, `bf16`
            (bf16 weights and activations; pooling and normalisation in fp32), `int8`
            (ONNX Runtime, int8 MatMuls; CPU only). Static models ignore it.
        device: `auto`, `cpu` or `cuda`.
        prompt: text put before every row: the name of one of the model's prompts
            (E5's `passage`), or the prefix itself; None: the model's default prompt, if any.
        models_dir: where derived models are kept (int8 ONNX files, distilled static
            tables); None: `models_dir()`.
    """

    def __init__(self, model: str = "builtin:minilm", pooling: str = "auto",
                 max_length: int | None = None, batch_size: int = 64, precision: str = "auto",
                 device: str = "auto", prompt: str | None = None,
                 models_dir: str | Path | None = None):
        self.model = model
        self.pooling = pooling
        self.max_length = max_length
        self.batch_size = batch_size
        self.precision = precision
        self.device = device
        self.prompt = prompt
        self.models_dir = models_dir

    def settings(self) -> dict:
        """The resolved embedding settings: pooling modes, include_prompt, max_length,
        prompt text (from the arguments, then the model's sentence-transformers config)."""
        if hasattr(self, "settings_"):
            return self.settings_
        if static.is_static(self.model):
            if self.pooling not in ("auto", "mean"):
                raise CurateError(f"a static model ({self.model}) pools by mean only",
                                  "set embed.pooling to auto")
            self.settings_ = {"pooling": ("mean",), "include_prompt": True, "static": True,
                              "max_length": self.max_length or static.MAX_LENGTH,
                              "prompt": self.prompt or ""}
            return self.settings_
        st = sentence_config(self.model)
        if st is not None and st.unsupported:
            raise CurateError(f"embedding model {self.model} has sentence-transformers "
                              f"modules curate does not apply: {', '.join(st.unsupported)}",
                              "use a model without them, or embed with sentence-transformers "
                              "and give the vectors as data.vector_column")
        if self.pooling != "auto":
            modes, include_prompt = (self.pooling,), True
        elif st is not None and st.pooling:
            modes, include_prompt = st.pooling, st.include_prompt
        else:
            modes, include_prompt = ("mean",), True
        prompts = st.prompts if st is not None else {}
        if self.prompt is None:
            default = st.default_prompt_name if st is not None else None
            prompt = prompts.get(default, "") if default else ""
        else:
            prompt = prompts.get(self.prompt, self.prompt)
        max_length = self.max_length or (st.max_seq_length if st is not None else None) \
            or DEFAULT_MAX_LENGTH
        self.settings_ = {"pooling": modes, "include_prompt": include_prompt,
                          "max_length": int(max_length), "prompt": prompt}
        return self.settings_

    def load(self) -> TextEncoder:
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        if self.settings().get("static"):
            folder = static.static_folder(self.model, Path(self.models_dir or models_dir()))
            self.static_ = static.StaticEncoder(folder, self.settings_["max_length"]).load()
            return self
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
        self.precision_ = choose_precision(self.precision, self.device_)
        self.dtype_ = autocast_dtype(self.precision, self.device_)
        if self.precision_.precision == "int8":
            from curate.embed.int8 import Int8Runner

            self.int8_ = Int8Runner(self.model_, model_identity(self.model),
                                    Path(self.models_dir or models_dir()), torch.get_num_threads())
            return self
        # bf16 casts the weights once instead of running under autocast, which re-casts every
        # weight on every forward and keeps layer norms and adds in fp32: faster, at fp32's
        # fidelity (benchmarks/embedding.md#bf16-weights-cast-once-not-autocast).
        self.model_.to(self.device_, self.dtype_)
        return self

    def encode(self, texts: list[str], on_batch: Callable[[int], None] | None = None
               ) -> np.ndarray:
        """Embed `texts` into an (N, d) float32 array in input order."""
        import torch

        if not hasattr(self, "model_") and not hasattr(self, "static_"):
            self.load()
        settings = self.settings_
        prompt = settings["prompt"]
        if hasattr(self, "static_"):
            return self.static_.encode([prompt + t for t in texts] if prompt else texts,
                                       on_batch)
        # Prompt tokens left out of pooling (include_prompt: false), as sentence-transformers
        # does: its tokenized length without the closing special token.
        skip = 0
        if prompt and not settings["include_prompt"]:
            skip = len(self.tokenizer_(prompt)["input_ids"]) - 1
        if prompt:
            texts = [prompt + text for text in texts]
        # Tokenize once, then pad each length-sorted batch (was: tokenize twice).
        encoded = self.tokenizer_(texts, truncation=True, max_length=settings["max_length"])
        order = np.argsort([-len(ids) for ids in encoded["input_ids"]], kind="stable")
        width = self.model_.config.hidden_size * len(settings["pooling"])
        out = np.empty((len(texts), width), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                rows = order[start:start + self.batch_size]
                batch = self.tokenizer_.pad({k: [v[i] for i in rows] for k, v in encoded.items()},
                                            return_tensors="pt")
                batch = {k: v.to(self.device_) for k, v in batch.items()}
                hidden = (torch.from_numpy(self.int8_(batch)) if hasattr(self, "int8_")
                          else self.model_(**batch).last_hidden_state)
                mask = batch["attention_mask"]
                if skip:
                    mask = mask.clone()
                    mask[:, :skip] = 0
                out[rows] = self._pool(hidden.float(), mask).cpu().numpy()
                if on_batch:
                    on_batch(len(rows))
        return out

    def describe(self) -> dict:
        """What ran, for manifests: precision asked and chosen, the rule, the CPU model."""
        if self.settings().get("static"):
            return {"static": static.static_identity(self.model)}
        return choose_precision(self.precision, resolve_device(self.device)).record()

    def _pool(self, hidden, mask):
        import torch

        weights = mask.unsqueeze(-1).to(hidden.dtype)
        parts = []
        for mode in self.settings()["pooling"]:
            if mode == "cls":
                parts.append(hidden[:, 0])
            elif mode == "max":
                parts.append(hidden.masked_fill(weights == 0, -1e9).max(1).values)
            elif mode in ("mean", "mean_sqrt_len"):
                total = (hidden * weights).sum(1)
                count = weights.sum(1).clamp(min=1e-9)
                parts.append(total / (count if mode == "mean" else count.sqrt()))
            elif mode == "weightedmean":
                position = torch.arange(1, hidden.shape[1] + 1, device=hidden.device,
                                        dtype=hidden.dtype).view(1, -1, 1) * weights
                parts.append((hidden * position).sum(1) / position.sum(1).clamp(min=1e-9))
            elif mode == "lasttoken":  # the last attended position, left or right padding
                positions = torch.arange(hidden.shape[1], device=hidden.device)
                last = (mask * positions).argmax(1)
                parts.append(hidden[torch.arange(len(hidden), device=hidden.device), last])
            else:
                raise CurateError(f"unknown pooling '{mode}'", "set embed.pooling to auto or "
                                  f"one of: {', '.join(POOLING_MODES)}")
        return torch.nn.functional.normalize(torch.cat(parts, dim=-1), dim=-1)

    def config_key(self) -> dict:
        """Everything that changes the vectors. The default MiniLM setup keys as before
        (mean, 256; fp32 and bf16 spelled as torch dtypes), so its cached embeddings stay
        valid."""
        settings = self.settings()
        if settings.get("static"):
            key = {"model": static.static_identity(self.model), "pooling": "static-mean",
                   "max_length": settings["max_length"]}
            return key | ({"prompt": settings["prompt"]} if settings["prompt"] else {})
        names = {"fp32": "torch.float32", "bf16": "torch.bfloat16 weights",
                 "int8": "int8 onnxruntime dynamic per-channel"}
        precision = names[choose_precision(self.precision, resolve_device(self.device)).precision]
        key = {"model": model_identity(self.model), "pooling": "+".join(settings["pooling"]),
               "max_length": settings["max_length"], "precision": precision}
        if settings["prompt"]:
            key["prompt"] = settings["prompt"]
            key["include_prompt"] = settings["include_prompt"]
        return key
