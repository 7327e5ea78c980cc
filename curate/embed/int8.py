"""`embed.precision: int8`: the encoder run by ONNX Runtime with dynamically quantized int8
MatMuls (weights int8 per output channel, activations uint8 quantized per batch).

Why ONNX Runtime and not torch's own `quantize_dynamic` (measured in
benchmarks/embedding.md#int8-through-onnx-runtime-not-torchs-quantize_dynamic):
- torch's `torch.ao.quantization.quantize_dynamic` still exists in 2.13 but is deprecated
  (slated for removal in favour of torchao). Its x86 kernels quantize activations to 7 bits
  (reduce_range): its vectors sat further from fp32's, and it ran slower than the bf16
  weights curate already uses.
- ONNX Runtime's dynamic quantizer with per-channel weights stays closest to fp32
  (per-tensor weights fall further), so per channel it is; its int8 GEMMs ran faster than
  torch fp32 per thread.
- optimum / optimum-onnx would pin transformers < 4.58; the export here is torch's own
  `torch.onnx.export` and the quantizer is onnxruntime's, so nothing else is needed.
Graph fusions (onnxruntime.transformers' BERT optimizer) were not faster on the CPU measured
and are not used. Pooling and normalisation stay curate's (`TextEncoder._pool`), in fp32.
On a CPU with AMX, bf16 weights were the faster choice, so `precision: auto` uses int8 only
where VNNI comes without AMX (`curate.embed.device.CPU_RULES`).

Caveat: activations are quantized with one scale per batch, so a row's int8 vector moves
slightly with its batch neighbours; either vector stays close to the fp32 one
(benchmarks/embedding.md#int8-vectors-and-their-batch). The cache keeps whichever was
computed first.

The quantized model is written once per base model into the derived-models folder
(`curate.embed.models.models_dir`, shared by every curate cache) and reused.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import inspect
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from curate.errors import missing_package
from curate.progress import log
from curate.store import atomic_path

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _require():
    try:
        import onnxruntime
    except ImportError:
        onnxruntime = None
    if onnxruntime is None or importlib.util.find_spec("onnx") is None:
        raise missing_package("embed.precision int8", "ONNX Runtime and onnx",
                              "onnxruntime onnx", "set embed.precision to bf16 or fp32") from None
    return onnxruntime


def _not_the_advice(record: logging.LogRecord) -> bool:
    return "pre-processing before quantization" not in record.getMessage()


class _ToCurateLog(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        log.log(record.levelno, "onnxruntime: %s", record.getMessage())


@contextlib.contextmanager
def _quantizer_logs() -> Iterator[None]:
    """onnxruntime's quantizer logs through the root logger (`logging.warning`), and every
    model not run through its pre-processing script gets the advice to run it, though the
    int8 model here was measured without it: a filter on root drops that advice. While root
    has no handler, the quantizer's other records go to curate's log, since
    `logging.warning` would otherwise add a stderr handler to root for good."""
    root = logging.getLogger()
    handler = _ToCurateLog() if not root.handlers else None
    root.addFilter(_not_the_advice)
    if handler:
        root.addHandler(handler)
    try:
        yield
    finally:
        root.removeFilter(_not_the_advice)
        if handler:
            root.removeHandler(handler)


def _export(model, inputs: tuple[str, ...], target: Path) -> None:
    """torch -> ONNX (fp32, dynamic batch and length) -> int8 dynamic quantization."""
    import warnings

    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    class LastHidden(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            return self.inner(**dict(zip(inputs, args, strict=True))).last_hidden_state

    example = tuple(torch.ones((2, 8), dtype=torch.long) for _ in inputs)
    axes = {name: {0: "batch", 1: "length"} for name in (*inputs, "last_hidden_state")}
    with atomic_path(target) as tmp:
        tmp.mkdir()
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notes
            torch.onnx.export(LastHidden(model.float().eval()), example, tmp / "fp32.onnx",
                              input_names=list(inputs), output_names=["last_hidden_state"],
                              dynamic_axes=axes, opset_version=17, dynamo=False)
        with _quantizer_logs():
            quantize_dynamic(tmp / "fp32.onnx", tmp / "model.onnx",
                             weight_type=QuantType.QInt8, per_channel=True,
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        (tmp / "fp32.onnx").unlink()


class Int8Runner:
    """last_hidden_state of a transformers encoder through its int8 ONNX Runtime twin.

    Args:
        model: the loaded transformers model (fp32 weights); exported once.
        identity: what names the model in the cache (`model_identity`).
        models_dir: where quantized models are kept (`curate.embed.models.models_dir`).
        threads: ONNX Runtime intra-op threads (torch's count, so executors' limits hold).
    """

    def __init__(self, model, identity: str, models_dir: Path, threads: int):
        ort = _require()
        accepted = inspect.signature(model.forward).parameters
        self.inputs = tuple(n for n in INPUTS if n in accepted)
        digest = hashlib.sha256(f"{identity}|{self.inputs}|int8-v1".encode()).hexdigest()
        self.folder = Path(models_dir) / f"int8-{digest[:16]}"
        if not (self.folder / "model.onnx").is_file():
            log.info("int8: building the quantized model once (kept in %s)", self.folder)
            started = time.perf_counter()
            _export(model, self.inputs, self.folder)
            log.info("int8 model built once, %.0f s", time.perf_counter() - started)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.folder / "model.onnx"), options,
                                            providers=["CPUExecutionProvider"])

    def __call__(self, batch: dict) -> np.ndarray:
        """(batch, length, hidden) float32 for a padded batch of torch tensors."""
        feed = {name: batch[name].numpy().astype(np.int64) for name in self.inputs
                if name in batch}
        if "token_type_ids" in self.inputs and "token_type_ids" not in feed:
            feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
        return self.session.run(None, feed)[0]
