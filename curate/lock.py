"""Runs of one name take turns: one lock per run name in the cache, one in the output folder.

Two runs of the same config (a scheduled run that overlaps the previous one, a second
`curate run`) would otherwise compute the same cache entries twice: the cache lock, held
for the whole run, makes the second wait and then find them cached. Two runs of one name
with different caches still share `output.dir/<name>/`: the output lock, held while a run
writes and publishes its run folder, keeps one run's staging cleanup away from the
other's staging folder.
The locks are OS file locks (filelock): released when their process ends, however it ends,
so a crashed run never leaves a stale lock behind.
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
# Beside the run folders, not among them: a run's parent folder holds only runs.
OUTPUT_LOCKS = ".curate-locks"


def _file_name(run_name: str) -> str:
    return f"{re.sub(r'[^A-Za-z0-9_.-]', '_', run_name)}.lock"


def lock_path(cache_dir: Path, run_name: str) -> Path:
    return Path(cache_dir) / "locks" / _file_name(run_name)


def output_lock_path(out_dir: Path, run_name: str) -> Path:
    # Case-folded: on a case-insensitive disk 'Run' and 'run' share one run folder parent.
    return Path(out_dir) / OUTPUT_LOCKS / _file_name(run_name.casefold())


def run_lock(cache_dir: Path, run_name: str, timeout: float) -> contextlib.AbstractContextManager:
    """Hold the cache lock of `run_name`, waiting up to `timeout` seconds for another run."""
    return hold_lock(lock_path(cache_dir, run_name), run_name, timeout)


def output_lock(out_dir: Path, run_name: str,
                timeout: float) -> contextlib.AbstractContextManager:
    """Hold the lock of `out_dir/<run_name>/`, waiting up to `timeout` seconds."""
    return hold_lock(output_lock_path(out_dir, run_name), run_name, timeout)


@contextlib.contextmanager
def hold_lock(path: Path, run_name: str, timeout: float) -> Iterator[Path]:
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
