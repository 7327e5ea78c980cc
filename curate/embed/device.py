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
    """`precision` where the CPU has any of `flags` (an empty set matches every CPU)."""

    flags: frozenset[str]
    precision: str
    evidence: str


# Measured with `python benchmarks/run.py --only embedding` (benchmarks/results/) on
# all-MiniLM-L6-v2; "cos" is the cosine of each text's vector to the fp32 one.
CPU_RULES = (
    PrecisionRule(frozenset({"amx_bf16"}), "bf16",
                  "Intel Xeon with AMX, 2 cores, make bench: bf16 weights 3.5x sentence-"
                  "transformers fp32 on 2,000 WordNet glosses (1,043 texts/s; ONNX Runtime "
                  "int8 420, fp32 406); per thread 675 vs int8 494 glosses/s and 47 vs 20 BBC "
                  "articles/s. cos >= 0.9999"),
    PrecisionRule(frozenset({"avx512_vnni", "avx_vnni"}), "int8",
                  "AMD EPYC Zen 4 (avx512_bf16 and avx512_vnni, no AMX), 2 cores, make bench "
                  "at load ~6: ONNX Runtime int8 280 glosses/s against bf16 weights 162 and "
                  "sentence-transformers fp32 46 (6.1x); per thread, two runs: int8 369 and "
                  "587 vs bf16 271 and 404 glosses/s, 19.9 and 24.6 vs 15.7 and 27.4 BBC "
                  "articles/s (short texts gain, long ones about tie). Without AMX, bf16 has "
                  "dot-product instructions only. cos to fp32 0.993 mean on glosses, 0.995 on "
                  "articles"),
    PrecisionRule(frozenset({"avx512_bf16"}), "bf16",
                  "bf16 dot-product units without VNNI (not measured: the CPUs measured with "
                  "avx512_bf16 also have VNNI); bf16 weights hold cos >= 0.9999 to fp32"),
    PrecisionRule(frozenset(), "fp32", "no native bf16 or int8 units"),
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
