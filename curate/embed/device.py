"""Pick the device and the precision at run time.

`precision: auto` follows one rule table, `CPU_RULES`: the first rule whose CPU flags the
machine has wins. Each rule links the section of `benchmarks/embedding.md` that holds the
measurement behind it (the figures live there); a CPU that no measured rule covers keeps
fp32. On a CUDA GPU, auto is bf16 where the GPU computes it natively.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from curate.errors import CurateError

PRECISIONS = ("fp32", "bf16", "int8")


@dataclass(frozen=True)
class PrecisionRule:
    """`precision` where the CPU has any of `flags` (an empty set matches every CPU)."""

    flags: frozenset[str]
    precision: str
    evidence: str  # benchmarks/<page>.md#<heading anchor>


CPU_RULES = (
    # AMX: bf16 weights were the fastest precision, per thread too, at fp32's fidelity
    PrecisionRule(frozenset({"amx_bf16"}), "bf16",
                  "benchmarks/embedding.md#intel-xeon-with-amx-bf16"),
    # VNNI without AMX: ONNX Runtime int8 beat bf16 weights on short texts and tied on long
    # ones (bf16 has dot-product instructions only there)
    PrecisionRule(frozenset({"avx512_vnni", "avx_vnni"}), "int8",
                  "benchmarks/embedding.md#amd-epyc-zen-4-vnni-without-amx-int8"),
    # bf16 dot-product units without VNNI: not measured (every CPU measured with
    # avx512_bf16 had VNNI too); bf16 keeps fp32's fidelity
    PrecisionRule(frozenset({"avx512_bf16"}), "bf16",
                  "benchmarks/embedding.md#avx512-bf16-without-vnni-bf16-not-measured"),
    # no native bf16 or int8 units
    PrecisionRule(frozenset(), "fp32", "benchmarks/embedding.md#any-other-cpu-fp32"),
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

    def record(self) -> dict:
        return {"asked": self.asked, "precision": self.precision, "device": self.device,
                "cpu": self.cpu, "rule": self.rule}


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
                           f"{'/'.join(sorted(rule.flags)) or 'any CPU'}: {rule.evidence}")


def autocast_dtype(precision: str, device):
    """The torch dtype of the weights: bf16 where the choice is bf16, else fp32 (int8
    runs in ONNX Runtime on fp32 activations)."""
    import torch

    chosen = choose_precision(precision, device).precision
    return torch.bfloat16 if chosen == "bf16" else torch.float32
