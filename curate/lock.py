"""One run of a config at a time: a lock file per run name in the cache, held for the run.

Two runs of the same config (a scheduled run that overlaps the previous one, a second
`curate run`) would otherwise write the same cache entries and pick run folders at once.
The lock is an OS file lock (filelock): it is released when its process ends, however it
ends, so a crashed run never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from curate.errors import CurateError

log = logging.getLogger(__name__)


def lock_path(cache_dir: Path, run_name: str) -> Path:
    return Path(cache_dir) / "locks" / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', run_name)}.lock"


@contextlib.contextmanager
def run_lock(cache_dir: Path, run_name: str, timeout: float) -> Iterator[Path]:
    """Hold the lock of `run_name`, waiting up to `timeout` seconds for another run."""
    path = lock_path(cache_dir, run_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.warning("another run of '%s' holds %s; waiting up to %g s for it to finish",
                    run_name, path, timeout)
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise CurateError(
                f"another run of '{run_name}' still holds {path} after {timeout:g} s",
                "wait for it to finish, or raise run.lock_timeout (the lock goes away with "
                "the process that holds it)") from None
    try:
        yield path
    finally:
        lock.release()
