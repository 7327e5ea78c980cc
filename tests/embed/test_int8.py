"""embed.precision int8 (ONNX Runtime) and the auto precision rules."""

import json

import numpy as np
import polars as pl
import pytest
import torch

from curate.config import DataConfig, EmbedConfig
from curate.data import load_pool
from curate.embed import device, embed_pool, int8
from curate.embed.text import TextEncoder
from curate.errors import CurateError
from curate.store import ArtifactCache

CPU = torch.device("cpu")


def test_int8_stays_close_to_fp32(glosses):
    texts = glosses["text"].to_list()
    fp32 = TextEncoder(precision="fp32").encode(texts)
    quantized = TextEncoder(precision="int8")
    vectors = quantized.encode(texts)
    assert vectors.shape == fp32.shape and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    cosine = np.sum(vectors * fp32, axis=1)
    assert cosine.mean() >= 0.99 and cosine.min() >= 0.95
    assert quantized.describe()["precision"] == "int8"


def test_int8_model_is_exported_once(tiny_bert, tmp_path, monkeypatch):
    calls = []
    export = int8._export
    monkeypatch.setattr(int8, "_export", lambda *a: calls.append(a) or export(*a))
    texts = ["the dog runs", "a small red house", "fast cats ."]
    first = TextEncoder(tiny_bert, precision="int8", models_dir=tmp_path).encode(texts)
    second = TextEncoder(tiny_bert, precision="int8", models_dir=tmp_path).encode(texts)
    assert len(calls) == 1 and np.array_equal(first, second)
    fp32 = TextEncoder(tiny_bert, precision="fp32").encode(texts)
    assert np.sum(first * fp32, axis=1).min() > 0.95


def test_cache_key_and_manifest_per_precision(tmp_path, glosses):
    path = tmp_path / "p.parquet"
    glosses.head(20).write_parquet(path)
    pool = load_pool(DataConfig(path=path, text_column="text", label_column="label"))
    cache = ArtifactCache(tmp_path / "c")
    refs = {p: embed_pool(pool, EmbedConfig(precision=p), cache) for p in ("fp32", "int8")}
    assert refs["fp32"].key != refs["int8"].key
    manifest = json.loads((refs["int8"].path / "manifest.json").read_text())
    assert manifest["encoder"]["precision"].startswith("int8")
    assert manifest["ran"]["precision"] == "int8" and manifest["ran"]["cpu"]
    again = embed_pool(pool, EmbedConfig(precision="int8"), cache)
    assert again.cache_hit and np.array_equal(again.load(), refs["int8"].load())


def _cpu(monkeypatch, *flags):
    monkeypatch.setattr(device, "cpu_info", lambda: device.CpuInfo("Test CPU", frozenset(flags)))


@pytest.mark.parametrize(("flags", "chosen"), [
    (("avx512f", "amx_bf16", "amx_int8", "avx512_bf16", "avx512_vnni"), "bf16"),  # AMX Xeon
    (("avx512f", "avx512_bf16", "avx512_vnni"), "int8"),  # Zen 4: VNNI int8 beats bf16 there
    (("avx512f", "avx512_bf16"), "bf16"),  # bf16 units, no VNNI
    (("avx512f", "avx512_vnni"), "int8"),  # Cascade Lake, Ice Lake: VNNI, no bf16 units
    (("avx2", "avx_vnni"), "int8"),  # Alder Lake class
    (("avx2", "fma"), "fp32"),
])
def test_auto_precision_rules(monkeypatch, flags, chosen):
    _cpu(monkeypatch, *flags)
    choice = device.choose_precision("auto", CPU)
    assert choice.precision == chosen and choice.cpu == "Test CPU" and choice.rule
    assert device.choose_precision("fp32", CPU).precision == "fp32"


def test_int8_is_cpu_only():
    with pytest.raises(CurateError, match="int8 runs on the CPU"):
        device.choose_precision("int8", torch.device("cuda"))


def test_every_rule_names_its_evidence():
    assert all(rule.evidence for rule in device.CPU_RULES)
    assert not device.CPU_RULES[-1].flags  # the last rule matches every CPU


def test_rows_are_embedded_in_input_order(glosses):
    texts = glosses["text"].to_list()[:40]
    encoder = TextEncoder(precision="int8", batch_size=8)
    shuffled = np.random.default_rng(0).permutation(40)
    direct = encoder.encode(texts)
    assert np.sum(encoder.encode([texts[i] for i in shuffled]) * direct[shuffled], axis=1
                  ).min() > 0.99
    assert pl.Series(np.linalg.norm(direct, axis=1)).is_between(0.999, 1.001).all()

