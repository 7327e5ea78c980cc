"""Shared fixtures. Nothing here may reach the network: HF offline, Prefect local only."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_HOME", os.path.join(tempfile.gettempdir(), "curate-tests-prefect"))
os.environ.setdefault("CURATE_PROGRESS", "0")

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from curate.config import DataConfig
from curate.data import load_pool

WORDNET = Path("/usr/share/wordnet/data.noun")
FASHION = Path("/usr/share/datasets/fashion-mnist")


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "requires_gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def glosses() -> pl.DataFrame:
    """300 real WordNet glosses (id, text, label) from 3 lexical categories."""
    pool = load_pool(DataConfig(source="builtin:wordnet"))
    frame = pool.frame.filter(pl.col("label").is_in(["noun.animal", "noun.food", "verb.motion"]))
    return frame.sample(n=300, seed=0).sort("id")


@pytest.fixture
def glosses_jsonl(tmp_path, glosses) -> Path:
    path = tmp_path / "pool.jsonl"
    with open(path, "w") as f:
        for row in glosses.rename({"id": "uid", "text": "gloss", "label": "topic"}).iter_rows(
                named=True):
            f.write(json.dumps(row) + "\n")
    return path


def unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def blobs() -> tuple[np.ndarray, np.ndarray]:
    """600 unit vectors in 6 tight clusters of 100 around orthogonal axes (16-d), and labels."""
    rng = np.random.default_rng(0)
    centres = np.eye(16, dtype=np.float32)[:6]
    labels = np.repeat(np.arange(6), 100)
    return unit_rows(centres[labels] + rng.normal(scale=0.08, size=(600, 16))), labels


@pytest.fixture(scope="session")
def chat_rows():
    pool = load_pool(DataConfig(source="builtin:chatterbot"))
    frame = pool.frame.filter(pool.frame["label"].is_in(["greetings", "ai", "humor"]))
    return frame["prompt"].to_list(), frame["response"].to_list()


@pytest.fixture
def one_thread():
    """Tiny models on a shared 2-core machine train several times faster on one thread: a
    second thread only waits on the first."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory, chat_rows):
    """A tiny random Llama and a word-level tokenizer trained on the rows, in a folder."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    raw = Tokenizer(models.WordLevel(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    raw.train_from_iterator(chat_rows[0] + chat_rows[1], trainers.WordLevelTrainer(
        special_tokens=["<pad>", "<unk>", "</s>"]))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="<pad>",
                                        unk_token="<unk>", eos_token="</s>")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                         max_position_embeddings=256,
                         # wide enough an output layer that frozen random logits can move
                         initializer_range=0.2)
    folder = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)
