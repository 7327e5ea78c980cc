"""`curate cache verify` and `curate cache prune`: check and clean a shared cache.

Runs heal damaged embedding shards on their own (quarantine and re-embed, see
`curate.embed.shards`); `verify` finds damage before a run does, `prune` deletes what
quarantine and crashed writes left behind.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from curate.embed import ROWS_STAGE
from curate.embed import shards as shard_files
from curate.errors import CurateError
from curate.store import MANIFEST, RESUMABLE


def _encoder_folders(root: Path) -> list[Path]:
    root = Path(root)
    if not root.is_dir():
        raise CurateError(f"no cache at {root}", "pass the cache folder (output.cache_dir)")
    return sorted(p for p in (root / ROWS_STAGE).glob("*") if p.is_dir())


def verify_cache(root: Path) -> list[tuple[Path, int, int]]:
    """Check every embedding shard fully; quarantine the damaged ones.
    Returns (encoder folder, shards ok, shards quarantined) per encoder."""
    return [(folder, *map(len, shard_files.usable(folder, vectors=True)))
            for folder in _encoder_folders(root)]


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def prune_cache(root: Path, older_than: float = 3600) -> tuple[int, int]:
    """Delete quarantined shards, and leftovers older than `older_than` seconds of writes
    that never finished: temporary files of atomic writes, shards with keys but no vectors,
    stage entries without a manifest. Younger leftovers may belong to a run in progress.
    Entries marked resumable (an interrupted training's checkpoints) stay: their rerun
    resumes from them. Returns (items removed, bytes freed)."""
    root = Path(root)
    _encoder_folders(root)  # fails on a missing cache
    cutoff = time.time() - older_than
    doomed: list[Path] = []
    for folder in root.glob(f"{ROWS_STAGE}/*/{shard_files.QUARANTINE}"):
        doomed += sorted({folder / p.name.split(".")[0] for p in folder.iterdir()})
    for path in root.rglob(".*.tmp"):
        if path.stat().st_mtime < cutoff:
            doomed.append(path)
    for folder in root.glob(f"{ROWS_STAGE}/*"):
        for name in shard_files.names(folder):
            keys = folder / f"{name}.keys.npy"
            if (keys.exists() and not (folder / f"{name}.vectors.npy").exists()
                    and keys.stat().st_mtime < cutoff):
                doomed.append(keys)
    for entry in root.glob("*/*"):
        if (entry.is_dir() and entry.parent.name != ROWS_STAGE and not entry.name.startswith(".")
                and not any((entry / name).exists() for name in (MANIFEST, RESUMABLE))
                and entry.stat().st_mtime < cutoff):
            doomed.append(entry)
    freed = 0
    for path in doomed:
        if path.parent.name == shard_files.QUARANTINE:  # one shard: all its files
            files = list(path.parent.glob(f"{path.name}.*"))
            freed += sum(f.stat().st_size for f in files)
            for f in files:
                f.unlink()
            continue
        freed += _size(path)
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    for folder in root.glob(f"{ROWS_STAGE}/*/{shard_files.QUARANTINE}"):
        folder.rmdir()
    return len(doomed), freed
