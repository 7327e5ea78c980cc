"""Shared helpers for the benchmarks: timing, memory, machine description, real vectors."""

from __future__ import annotations

import os
import platform
import resource
import time
from contextlib import contextmanager

import numpy as np


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def timer(into: dict, key: str):
    started = time.perf_counter()
    yield
    into[key] = round(time.perf_counter() - started, 3)


def _busy_cpu_seconds() -> float | None:
    """CPU seconds the whole machine spent busy (not idle, not iowait), from /proc/stat."""
    try:
        with open("/proc/stat") as stat:
            ticks = [int(t) for t in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


@contextmanager
def measured(into: dict):
    """Wall seconds, and the cores other processes kept busy meanwhile (contention)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    busy, started = _busy_cpu_seconds(), time.perf_counter()
    yield into
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    own_s = after.ru_utime + after.ru_stime - own.ru_utime - own.ru_stime
    end = _busy_cpu_seconds()
    into["seconds"] = round(seconds, 3)
    into["other_busy_cores"] = (None if busy is None or end is None
                                else round(max(0.0, (end - busy - own_s) / seconds), 2))


def machine() -> dict:
    import torch

    from curate.embed.device import cpu_has_bf16
    from curate.run import package_versions

    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info
                        if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "bf16": cpu_has_bf16(),
            "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
            "versions": package_versions(), "date": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                  time.gmtime())}


def mixture(n: int, d: int, components: int, seed: int = 0, used: int | None = None,
            draw_seed: int | None = None) -> np.ndarray:
    """Unit vectors from a seeded Gaussian mixture: clustered like real embeddings.

    The centres depend on `seed` only; rows come from the first `used` components (all by
    default), drawn with `draw_seed` (default `seed`). A target set for distribution-shift
    selection is the same mixture restricted to a few components, drawn independently.
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal(size=(components, d), dtype=np.float32)
    if draw_seed is not None:
        rng = np.random.default_rng(draw_seed)
    # Filled in blocks, in float32: the benchmarks' peak RSS should be the method's, not
    # that of float64 temporaries the size of the whole set.
    x = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 65536):
        rows = min(65536, n - start)
        block = rng.standard_normal(size=(rows, d), dtype=np.float32)
        block *= 0.6
        block += centres[rng.integers(used or components, size=rows)]
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        x[start:start + rows] = block
    return x
