"""Pick the device and the autocast precision at run time."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from curate.errors import CurateError


@cache
def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 arithmetic (AVX512-BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_device(device: str = "auto"):
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise CurateError("embed.device is cuda but no CUDA GPU is visible",
                          "set embed.device to auto or cpu")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def autocast_dtype(precision: str, device):
    """bf16 where the hardware computes it natively (precision auto), else fp32."""
    import torch

    if precision == "fp32":
        return torch.float32
    if precision == "bf16":
        return torch.bfloat16
    native = torch.cuda.is_bf16_supported() if device.type == "cuda" else cpu_has_bf16()
    return torch.bfloat16 if native else torch.float32
