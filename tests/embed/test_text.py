import numpy as np
import pytest

from curate.embed.models import resolve_model
from curate.embed.text import TextEncoder
from curate.errors import CurateError


@pytest.fixture(scope="module")
def fp32():
    return TextEncoder(precision="fp32", batch_size=16).load()


def test_vectors_are_unit_and_semantic(fp32):
    v = fp32.encode(["a young dog", "a puppy", "the stock market fell sharply"])
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.3


def test_matches_sentence_transformers(fp32, glosses):
    """Same model, pooling and normalisation as the reference implementation."""
    st = pytest.importorskip("sentence_transformers")
    texts = glosses["text"].to_list()[:64]
    ref = st.SentenceTransformer(resolve_model("builtin:minilm"), device="cpu").encode(
        texts, normalize_embeddings=True)
    assert np.min(np.sum(fp32.encode(texts) * ref, axis=1)) > 0.99999


def test_length_sorted_batches_keep_input_order(fp32, glosses):
    texts = glosses["text"].to_list()[:40]
    one_by_one = np.stack([fp32.encode([t])[0] for t in texts[:10]])
    assert np.allclose(fp32.encode(texts)[:10], one_by_one, atol=1e-5)


def test_bf16_autocast_stays_close_to_fp32(fp32, glosses):
    texts = glosses["text"].to_list()
    bf16 = TextEncoder(precision="bf16", batch_size=64).load()
    cosine = np.sum(fp32.encode(texts) * bf16.encode(texts), axis=1)
    assert cosine.min() >= 0.9999 - 1e-4 and cosine.mean() >= 0.9999


def test_missing_model_path():
    with pytest.raises(CurateError, match=r"embedding model path does not exist: ./no-model"):
        resolve_model("./no-model")
    with pytest.raises(CurateError, match="unknown builtin model"):
        resolve_model("builtin:bert")


def test_hub_id_offline_is_a_clear_error():
    with pytest.raises(CurateError, match="cannot load embedding model nobody/no-such-model"):
        TextEncoder("nobody/no-such-model").load()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A tiny randomly initialised BERT saved to a local folder (no download)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "dog", "cat", "runs", "a",
             "small", "big", "house", "red", "fast"]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64)
    BertModel(config).save_pretrained(folder)
    return str(folder)


TINY_TEXTS = ["the dog runs", "a small red house", "the big cat", "fast dog", "a house"]


def test_any_local_model_folder(tiny_model):
    mean = TextEncoder(tiny_model, precision="fp32").encode(TINY_TEXTS)
    cls = TextEncoder(tiny_model, pooling="cls", precision="fp32").encode(TINY_TEXTS)
    assert mean.shape == cls.shape == (5, 32)
    assert np.allclose(np.linalg.norm(mean, axis=1), 1, atol=1e-5)
    assert not np.allclose(mean, cls)


@pytest.mark.requires_gpu
def test_cuda_encode_matches_cpu(tiny_model):
    cpu = TextEncoder(tiny_model, precision="fp32", device="cpu").encode(TINY_TEXTS)
    cuda = TextEncoder(tiny_model, precision="fp32", device="cuda")
    assert cuda.load().device_.type == "cuda"
    assert np.min(np.sum(cuda.encode(TINY_TEXTS) * cpu, axis=1)) > 0.9999
    auto = TextEncoder(tiny_model, precision="auto", device="cuda").load()
    assert str(auto.dtype_) == "torch.bfloat16"  # every CUDA GPU curate targets has bf16
    assert np.min(np.sum(auto.encode(TINY_TEXTS) * cpu, axis=1)) > 0.99


def test_cuda_requested_without_gpu_is_a_clear_error():
    import torch

    from curate.embed.device import resolve_device

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(CurateError, match=r"embed.device is cuda but no CUDA GPU"):
        resolve_device("cuda")
