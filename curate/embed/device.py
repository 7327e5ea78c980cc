"""Pick the device and the precision at run time.

`precision: auto` follows one rule table, `CPU_RULES`: the first rule whose CPU flags the
machine has wins. Each rule names the measurement behind it; a CPU that no measured rule
covers keeps fp32. On a CUDA GPU, auto is bf16 where the GPU computes it natively.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from curate.errors import CurateError

PRECISIONS = ("fp32", "bf16", "int8")


@dataclass(frozen=True)
class PrecisionRule:
    """`precision` where the CPU has any of `flags` (an empty set matches every CPU); with
    `up_to_tokens`, only for texts of at most that many tokens, `longer` beyond."""

    flags: frozenset[str]
    precision: str
    evidence: str
    up_to_tokens: int | None = None
    longer: str | None = None


# Measured with `python benchmarks/run.py --only embedding` (benchmarks/results/) on
# all-MiniLM-L6-v2; "cos" is the cosine of each text's vector to the fp32 one.
CPU_RULES = (
    PrecisionRule(frozenset({"amx_int8"}), "int8",
                  "Intel Xeon with AMX, 2 cores, make bench: on 2,000 WordNet glosses ONNX "
                  "Runtime int8 4.7x sentence-transformers fp32 vs 3.7x for bf16 weights "
                  "(cos to fp32 0.993 mean), on 300 BBC articles 1.1x vs 2.6x; by length "
                  "(batches of 64): int8/bf16 1.3-1.6 at 64 tokens, 0.85 at 96, 0.45 at 256",
                  up_to_tokens=64, longer="bf16"),
    PrecisionRule(frozenset({"amx_bf16", "avx512_bf16"}), "bf16",
                  "bf16 weights: 2.6x fp32 on the AMX Xeon (20,000 glosses, quiet), 2.4x "
                  "sentence-transformers fp32 on an AMD EPYC Zen 4 (avx512_bf16, no AMX), "
                  "cos >= 0.9999; int8 not measured on CPUs without AMX"),
    PrecisionRule(frozenset(), "fp32", "no native bf16 or int8 units measured"),
)


@dataclass(frozen=True)
class CpuInfo:
    model: str
    flags: frozenset[str]


@cache
def cpu_info() -> CpuInfo:
    """The CPU model name and flags from /proc/cpuinfo (empty where it cannot be read)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return CpuInfo("unknown", frozenset())
    fields = {}
    for line in lines:
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return CpuInfo(fields.get("model name", "unknown"), frozenset(fields.get("flags", "").split()))


def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 arithmetic (AVX512-BF16 or AMX)."""
    return bool(cpu_info().flags & {"avx512_bf16", "amx_bf16"})


def resolve_device(device: str = "auto"):
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise CurateError("embed.device is cuda but no CUDA GPU is visible",
                          "set embed.device to auto or cpu")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


@dataclass(frozen=True)
class PrecisionChoice:
    """What a precision setting resolved to on this machine, and why (for manifests)."""

    asked: str
    precision: str
    device: str
    cpu: str
    rule: str
    up_to_tokens: int | None = None  # `precision` for texts this long at most,
    longer: str | None = None  # and this one for longer texts

    def record(self) -> dict:
        return {"asked": self.asked, "precision": self.precision, "device": self.device,
                "cpu": self.cpu, "rule": self.rule, "up_to_tokens": self.up_to_tokens,
                "longer": self.longer}


def choose_precision(precision: str, device) -> PrecisionChoice:
    """`precision` (auto, fp32, bf16 or int8) resolved for `device` (a torch.device)."""
    cpu = cpu_info()
    if precision not in ("auto", *PRECISIONS):
        raise CurateError(f"unknown embed.precision '{precision}'",
                          f"use auto or one of: {', '.join(PRECISIONS)}")
    if precision == "int8" and device.type != "cpu":
        raise CurateError("embed.precision int8 runs on the CPU (ONNX Runtime)",
                          "set embed.device to cpu, or embed.precision to bf16 or auto")
    if precision != "auto":
        return PrecisionChoice(precision, precision, device.type, cpu.model, "asked")
    if device.type == "cuda":
        import torch

        native = torch.cuda.is_bf16_supported()
        return PrecisionChoice("auto", "bf16" if native else "fp32", "cuda", cpu.model,
                               "CUDA GPU with native bf16" if native else "CUDA GPU without bf16")
    rule = next(r for r in CPU_RULES if not r.flags or r.flags & cpu.flags)
    return PrecisionChoice("auto", rule.precision, device.type, cpu.model,
                           f"{'/'.join(sorted(rule.flags)) or 'any CPU'}: {rule.evidence}",
                           rule.up_to_tokens, rule.longer)


def autocast_dtype(precision: str, device):
    """The torch dtype of the torch weights: bf16 where the choice runs bf16 for some
    texts, else fp32 (int8 runs in ONNX Runtime)."""
    import torch

    chosen = choose_precision(precision, device)
    return torch.bfloat16 if "bf16" in (chosen.precision, chosen.longer) else torch.float32
