"""Prefect servers that curate starts never outlive it, even after `kill -9`.

`curate run` uses Prefect's ephemeral server and `curate serve` a `prefect server start`;
both are child processes that curate stops on a normal exit. A SIGKILL skips that, and the
server stayed on loopback. On Linux each server is started with a parent-death signal
(prctl PR_SET_PDEATHSIG): the kernel sends it SIGTERM when curate dies, however it dies.
Elsewhere nothing changes.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable

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
