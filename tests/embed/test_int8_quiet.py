"""Quiet runs (issue 26): onnxruntime's quantizer advised "pre-processing before
quantization" through the root logger (installing a stderr handler for good) after a silent
pause; the int8 model is built once, and the log says so with the time it took."""

from __future__ import annotations

import logging

from curate.embed.text import TextEncoder
from curate.progress import capture_log


def test_int8_is_built_once_without_onnxruntimes_advice(tiny_bert, tmp_path, capfd):
    root = logging.getLogger()
    handlers = list(root.handlers)
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    keep = Keep()
    root.addHandler(keep)
    try:
        with capture_log() as lines:
            TextEncoder(tiny_bert, precision="int8", models_dir=tmp_path).encode(["a dog"])
            TextEncoder(tiny_bert, precision="int8", models_dir=tmp_path).encode(["a cat"])
    finally:
        root.removeHandler(keep)
    assert not [r for r in records if "pre-processing" in r], records
    assert "pre-processing" not in capfd.readouterr().err
    assert [h for h in root.handlers] == handlers  # no stderr handler left behind
    built = [line for line in lines if "int8 model built once" in line]
    assert len(built) == 1 and built[0].rstrip().endswith(" s"), lines
