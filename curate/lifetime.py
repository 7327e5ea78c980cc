"""Prefect servers that curate starts never outlive it unasked, even after `kill -9`.

`curate run` uses Prefect's ephemeral server and `curate serve` a `prefect server start`;
both are child processes that curate stops on a normal exit. A SIGKILL skips that, and the
server stayed on loopback. On Linux each server is started with a parent-death signal
(prctl PR_SET_PDEATHSIG): the kernel sends it SIGTERM when curate dies, however it dies.
Elsewhere nothing changes.

The one server meant to outlive its run, `curate run`'s temporary server (kept a few minutes
for the next run, `serve_temporary`), ignores that signal only once the run has released it
on a normal exit, and ends on its own when no run has used it for its linger time.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

PR_SET_PDEATHSIG = 1


@functools.cache
def _prctl() -> Callable | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that has the child SIGTERMed when this process dies (None off Linux).

    Linux ties the signal to the thread that starts the child: start it from a thread that
    lives as long as the process (the main thread)."""
    prctl, parent = _prctl(), os.getpid()
    if prctl is None:
        return None

    def preexec() -> None:  # in the child, between fork and exec: nothing that may lock
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


class _SubprocessDyingWithParent:
    """Prefect's server module's view of `subprocess`: the same, except that a Popen started
    on the main thread dies with this process."""

    def __getattr__(self, name: str):
        return getattr(subprocess, name)

    @staticmethod
    def Popen(*args, **kwargs):  # subprocess's name
        if threading.current_thread() is threading.main_thread() and "preexec_fn" not in kwargs:
            kwargs["preexec_fn"] = die_with_parent()
        return subprocess.Popen(*args, **kwargs)


def bind_ephemeral_server() -> None:
    """Start Prefect's ephemeral server (SubprocessASGIServer) with the parent-death signal.
    Prefect offers no hook for its Popen, so its module's `subprocess` is wrapped."""
    if _prctl() is None:
        return
    from prefect.server.api import server

    if not isinstance(server.subprocess, _SubprocessDyingWithParent):
        server.subprocess = _SubprocessDyingWithParent()


# A run using a temporary server touches its record this often; the server takes a record
# untouched for three times as long (and its linger time) as unused.
TOUCH_EVERY = 10.0


def read_record(path: Path) -> dict | None:
    try:
        info = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


@contextlib.contextmanager
def in_use(record: Path) -> Iterator[None]:
    """Touch the temporary server's record while a run uses it, so it never ends mid-run."""
    stop = threading.Event()

    def touch() -> None:
        while True:
            with contextlib.suppress(OSError):
                os.utime(record)
            if stop.wait(TOUCH_EVERY):
                return

    thread = threading.Thread(target=touch, daemon=True, name="curate-server-in-use")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def serve_temporary() -> None:
    """The temporary server's process (its last arguments: port, record, linger seconds):
    Prefect's server app under uvicorn. It ends when its record is deleted or names another
    process, when it was released and unused for the linger time, or on SIGTERM, except
    the parent-death signal after its `curate run` released it (a `kill -9` of that run
    releases nothing)."""
    import uvicorn

    port, record, linger = int(sys.argv[-3]), Path(sys.argv[-2]), float(sys.argv[-1])

    def released() -> bool:
        info = read_record(record)
        return bool(info and info.get("pid") == os.getpid() and info.get("released"))

    class Temporary(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            if not (sig == signal.SIGTERM and released()):
                super().handle_exit(sig, frame)

    server = Temporary(uvicorn.Config("prefect.server.api.server:create_app", factory=True,
                                      host="127.0.0.1", port=port, log_level="error",
                                      lifespan="on"))
    threading.Thread(target=_watch_record, args=(server, record, max(linger, 3 * TOUCH_EVERY)),
                     daemon=True).start()
    server.run()
    if (read_record(record) or {}).get("pid") == os.getpid():
        with contextlib.suppress(OSError):
            record.unlink()


def _watch_record(server, record: Path, idle: float) -> None:
    seen = False
    while not server.should_exit:
        time.sleep(1)
        info = read_record(record)
        if info is None and not seen:  # not written yet: the parent-death signal guards
            continue
        seen = True
        try:
            age = time.time() - record.stat().st_mtime
        except OSError:
            age = 0.0
        if info is None or info.get("pid") != os.getpid() \
                or (info.get("released") and age > idle):
            server.should_exit = True
