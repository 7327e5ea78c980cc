"""Embedding-cache shards and their checksums.

A shard is `<name>.keys.npy` (the content hash of each row), `<name>.vectors.npy` and
`<name>.json` (rows, dim and a blake2b checksum of each file), written in that order, each
atomically: the json marks the shard complete. A shard that fails to load or to match its
checksums (truncated, overwritten, half deleted) is moved to `quarantine/` with one warning
line, so the run re-embeds its rows instead of failing or, worse, using garbage.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np

from curate.errors import CurateError
from curate.store import atomic_path, write_json

log = logging.getLogger(__name__)
QUARANTINE = "quarantine"
SUFFIXES = (".keys.npy", ".vectors.npy", ".json")


def checksum(path: Path) -> str:
    """blake2b of a file, read in 1 MiB blocks (shards can be large)."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def write_shard(shards: Path, name: str, keys: np.ndarray, vectors: np.ndarray) -> None:
    """Write one shard. A file of it vanishing meanwhile means something deleted it under
    the run (`curate cache prune --older-than` shorter than the run): a one-line error."""
    try:
        for suffix, array in ((".keys.npy", keys), (".vectors.npy", vectors)):
            with atomic_path(shards / f"{name}{suffix}") as tmp, open(tmp, "wb") as f:
                np.save(f, array)
        write_json(shards / f"{name}.json", {  # written last: marks the shard complete
            "rows": len(keys), "dim": int(vectors.shape[1]),
            "keys": checksum(shards / f"{name}.keys.npy"),
            "vectors": checksum(shards / f"{name}.vectors.npy")})
    except FileNotFoundError as err:
        raise CurateError(
            f"the embedding cache changed under this run: {err.filename or shards / name} "
            "vanished while it was written (a `curate cache prune` at the same time?)",
            "run the same config again: it reuses every finished shard; prune while no run "
            "is going, or with an --older-than longer than a run") from None


def names(shards: Path) -> list[str]:
    """Every shard that has started: a keys, vectors or json file (complete or not)."""
    found = {p.name.removesuffix(s) for s in SUFFIXES for p in shards.glob(f"*{s}")
             if not p.name.startswith(".")}
    return sorted(found)


def problem(shards: Path, name: str, vectors: bool = True) -> str | None:
    """Why shard `name` cannot be used, or None. `vectors=False` checks the keys file only
    (and that the vectors file has the right size): cheap enough to do for every shard."""
    files = {s: shards / f"{name}{s}" for s in SUFFIXES}
    missing = [s for s, path in files.items() if not path.is_file()]
    if missing == [".json"]:
        return "no checksum (written before checksums, or by an interrupted run)"
    if missing:
        return f"{', '.join(name + s for s in missing)} missing"
    try:
        meta = json.loads(files[".json"].read_text())
        if checksum(files[".keys.npy"]) != meta["keys"]:
            return "keys do not match their checksum"
        if vectors and checksum(files[".vectors.npy"]) != meta["vectors"]:
            return "vectors do not match their checksum"
        shape = np.load(files[".vectors.npy"], mmap_mode="r").shape
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"unreadable ({type(err).__name__})"
    if shape != (meta["rows"], meta["dim"]):
        return f"vectors have shape {shape}, not ({meta['rows']}, {meta['dim']})"
    return None


def adopt(shards: Path, name: str) -> bool:
    """Give a shard written before checksums existed its json, if its files load and agree
    (they were written atomically, so they are whole unless damaged since)."""
    try:
        keys = np.load(shards / f"{name}.keys.npy")
        vectors = np.load(shards / f"{name}.vectors.npy", mmap_mode="r")
    except (OSError, ValueError):
        return False
    if vectors.ndim != 2 or len(vectors) != len(keys) or keys.dtype != np.dtype("S32"):
        return False
    write_json(shards / f"{name}.json", {
        "rows": len(keys), "dim": int(vectors.shape[1]),
        "keys": checksum(shards / f"{name}.keys.npy"),
        "vectors": checksum(shards / f"{name}.vectors.npy")})
    return True


def quarantine(shards: Path, name: str, reason: str) -> None:
    """Move the shard's files aside (`curate cache prune` deletes them), with one warning."""
    folder = shards / QUARANTINE
    folder.mkdir(exist_ok=True)
    for suffix in SUFFIXES:
        if (path := shards / f"{name}{suffix}").exists():
            os.replace(path, folder / path.name)
    log.warning("embedding cache: shard %s quarantined (%s); its rows are embedded again",
                shards / name, reason)


def check(shards: Path, name: str, vectors: bool = True) -> str | None:
    """`problem`, after giving a shard that only lacks its checksum one (`adopt`)."""
    reason = problem(shards, name, vectors)
    if reason and reason.startswith("no checksum") and adopt(shards, name):
        reason = problem(shards, name, vectors)
    return reason


def usable(shards: Path, vectors: bool = False) -> tuple[list[str], list[str]]:
    """(good, quarantined) over every shard of one encoder, each checked (keys always,
    vectors when asked). A shard without vectors or json is still being written (or its
    run was killed): it is skipped, not quarantined, so a concurrent run is not disturbed."""
    good, bad = [], []
    for name in names(shards):
        reason = check(shards, name, vectors)
        if reason is None:
            good.append(name)
        elif (shards / f"{name}.vectors.npy").exists() or (shards / f"{name}.json").exists():
            quarantine(shards, name, reason)
            bad.append(name)
    return good, bad
