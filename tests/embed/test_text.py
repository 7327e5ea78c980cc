import numpy as np
import pytest

from curate.embed.text import TextEncoder, resolve_model
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
