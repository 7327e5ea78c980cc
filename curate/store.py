"""Run folders, the content-addressed artifact cache, fingerprints and atomic writes.

Every file is written under a temporary name in the same folder and renamed into place,
so a crash never leaves a half-written artifact: a cache entry exists only once its
`manifest.json` does, and a run folder appears only when it is complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
# Marks an entry that holds work a rerun resumes and that never gets a manifest (training
# checkpoints): `curate cache prune` keeps it.
RESUMABLE = "resumable"


def hash_json(obj: Any) -> str:
    """A stable sha256 of a JSON-serialisable object (keys sorted)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def subset_fingerprint(subset) -> str:
    """A subset's identity: sha256 of its ids, in order (a polars frame with an `id` column)."""
    return hashlib.sha256("\n".join(subset["id"].to_list()).encode()).hexdigest()


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; rename it onto `path` only on success.

    Works for files and folders. An existing folder at `path` is replaced.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    target = tmp / path.name
    try:
        yield target
        if path.is_dir() and target.is_dir():
            shutil.rmtree(path)
        os.replace(target, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_json(path: Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


class ArtifactCache:
    """Content-addressed store: `<root>/<stage>/<key>/` holds one stage's output.

    An entry counts only when its manifest exists; the manifest is written last.
    """

    def __init__(self, root: Path):
        self.root = Path(root)

    def entry(self, stage: str, key: str) -> Path:
        """The entry folder (created). Partial files of a crashed attempt stay in it, so
        stages that write in shards resume from them."""
        folder = self.root / stage / key[:32]
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def resumable_entry(self, stage: str, key: str) -> Path:
        """An entry for work in progress that a rerun resumes (`RESUMABLE`)."""
        folder = self.entry(stage, key)
        (folder / RESUMABLE).touch()
        return folder

    def is_complete(self, stage: str, key: str) -> bool:
        return (self.root / stage / key[:32] / MANIFEST).exists()

    def manifest(self, stage: str, key: str) -> dict[str, Any]:
        return read_json(self.entry(stage, key) / MANIFEST)

    def finish(self, stage: str, key: str, manifest: dict[str, Any]) -> None:
        write_json(self.entry(stage, key) / MANIFEST, {"key": key, "stage": stage, **manifest})


@dataclass(frozen=True, kw_only=True)
class StageRef:
    """What every stage returns: where its artifact is (`path`), the cache key it was
    stored under, whether this call found it in the cache, and the counts it reports into
    the run's manifest (`stats`). Stages add what their consumers need."""

    path: Path
    key: str
    cache_hit: bool
    stats: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CachedEntry:
    """A stage's cache entry once `cached_stage` made sure it exists."""

    folder: Path
    key: str
    manifest: dict[str, Any]
    hit: bool


def cached_stage(cache: ArtifactCache, stage: str, key: dict[str, Any],
                 compute: Callable[[Path], dict[str, Any]], refresh: bool = False,
                 still_valid: Callable[[dict[str, Any]], bool] | None = None) -> CachedEntry:
    """The one cache skeleton of every stage: hash `key`; on a complete entry (unless
    `refresh`, or `still_valid(manifest)` says its files are damaged) return it; else run
    `compute(folder)`, which writes the artifacts atomically into the entry folder and
    returns the manifest, and mark the entry complete by writing that manifest last."""
    digest = hash_json(key)
    folder = cache.entry(stage, digest)
    if not refresh and cache.is_complete(stage, digest):
        manifest = cache.manifest(stage, digest)
        if still_valid is None or still_valid(manifest):
            return CachedEntry(folder, digest, manifest, hit=True)
    manifest = compute(folder)
    cache.finish(stage, digest, manifest)
    return CachedEntry(folder, digest, cache.manifest(stage, digest), hit=False)


def user_cache() -> Path:
    """curate's folder in the user cache (`$XDG_CACHE_HOME/curate`, else `~/.cache/curate`),
    as `datasets` and `huggingface_hub` keep theirs."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "curate"
