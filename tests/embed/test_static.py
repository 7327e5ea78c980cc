"""Static embeddings: distillation (model2vec's recipe), model2vec's format, numpy inference."""

import json
import subprocess
import sys

import numpy as np
import polars as pl
import pytest

from curate.config import DataConfig, EmbedConfig
from curate.data import load_pool
from curate.embed import embed_pool, static
from curate.embed.text import TextEncoder
from curate.store import ArtifactCache

TEXTS = ["the dog runs", "a small red house", "the big cats", "fast dog .", "", "zebra"]


@pytest.fixture(scope="module")
def tiny_static(tiny_bert, tmp_path_factory):
    return static.distill(tiny_bert, tmp_path_factory.mktemp("static") / "tiny", dims=8)


def test_distilled_table(tiny_static):
    from safetensors.numpy import load_file

    table = load_file(str(tiny_static / "model.safetensors"))["embeddings"]
    config = json.loads((tiny_static / "config.json").read_text())
    assert table.shape == (18, 8) and table.dtype == np.float32
    assert config["model_type"] == "model2vec" and config["normalize"] is True
    # special tokens and [unused0] get zero rows; every real token a non-zero one
    assert not table[:6].any() and (np.linalg.norm(table[6:], axis=1) > 0).all()
    vectors = static.StaticEncoder(tiny_static).encode(TEXTS)
    norms = np.linalg.norm(vectors, axis=1)
    assert np.allclose(norms[[0, 1, 2, 3]], 1, atol=1e-6)
    assert norms[4] == 0 and norms[5] == 0  # no tokens (empty, all unknown): a zero row


def test_round_trip_through_model2vec(tiny_static):
    """Our folder loads in model2vec, and its StaticModel.encode equals our encoder."""
    from model2vec import StaticModel  # the dev extra installs it

    theirs = StaticModel.from_pretrained(str(tiny_static))
    ours = static.StaticEncoder(tiny_static, batch_size=2)
    # word-path edge cases: characters str.split() splits on but BERT does not, long texts
    odd = [*TEXTS, "dog " * 700, "The DOG, runs!", "the\x1fdog runs", "red\u2028house",
           "a\x0bcat", "big\u00a0dog", "small \t house\n"]
    assert np.allclose(ours.encode(odd), theirs.encode(odd), atol=1e-6)
    short = static.StaticEncoder(tiny_static, max_length=2)
    assert np.allclose(short.encode(odd), theirs.encode(odd, max_length=2), atol=1e-6)


def test_model2vec_folder_as_embed_model(tiny_static, tmp_path):
    path = tmp_path / "rows.parquet"
    pl.DataFrame({"id": ["0", "1", "2", "3"], "text": TEXTS[:4]}).write_parquet(path)
    pool = load_pool(DataConfig(path=path, text_column="text"))
    ref = embed_pool(pool, EmbedConfig(model=str(tiny_static)), ArtifactCache(tmp_path / "c"))
    assert ref.dim == 8
    manifest = json.loads((ref.path / "manifest.json").read_text())
    assert manifest["encoder"]["pooling"] == "static-mean"
    assert np.allclose(ref.load(), static.StaticEncoder(tiny_static).encode(TEXTS[:4]))


def test_words_are_tokenized_once(tiny_static, monkeypatch):
    encoder = static.StaticEncoder(tiny_static).load()
    assert encoder.by_word_  # a WordPiece tokenizer with BERT pre-tokenization
    first = encoder.encode(TEXTS)
    calls = []
    exact = encoder._token_counts
    monkeypatch.setattr(encoder, "_token_counts", lambda *a, **k: calls.append(a) or exact(*a, **k))
    assert np.array_equal(encoder.encode(TEXTS), first) and not calls
    encoder.by_word_ = False
    assert np.allclose(encoder.encode(TEXTS), first, atol=1e-6)


def test_builtin_is_distilled_once(tiny_bert, tmp_path, monkeypatch):
    monkeypatch.setitem(static.STATIC_BUILTINS, "builtin:tiny-static", (tiny_bert, 8))
    calls = []
    distill = static.distill
    monkeypatch.setattr(static, "distill", lambda *a, **k: calls.append(a) or distill(*a, **k))
    first = TextEncoder("builtin:tiny-static", models_dir=tmp_path).encode(TEXTS)
    second = TextEncoder("builtin:tiny-static", models_dir=tmp_path).encode(TEXTS)
    assert len(calls) == 1 and np.array_equal(first, second)
    assert len(list(tmp_path.iterdir())) == 1


def test_static_minilm_keeps_meaning(glosses):
    """Near-paraphrases are closer than unrelated glosses (the real distilled MiniLM)."""
    encoder = TextEncoder("builtin:minilm-static")
    pairs = [("a young dog", "a puppy"),
             ("a large body of salt water", "the sea, a big expanse of salty water"),
             ("move fast on foot", "run quickly"),
             ("a building where people live", "a house, a dwelling for a family")]
    left = encoder.encode([a for a, _ in pairs])
    right = encoder.encode([b for _, b in pairs])
    others = encoder.encode(glosses["text"].to_list()[:200])
    assert left.shape == (4, 256) and np.allclose(np.linalg.norm(left, axis=1), 1, atol=1e-5)
    similarity = left @ right.T
    off = ~np.eye(4, dtype=bool)
    assert (np.diag(similarity) > similarity.max(axis=1, where=off, initial=-1) + 0.3).all()
    assert (np.diag(similarity) > np.percentile(left @ others.T, 99, axis=1)).all()


def test_no_torch_on_the_hot_path(tiny_static):
    code = ("import sys; from curate.embed.static import StaticEncoder; "
            f"v = StaticEncoder({str(tiny_static)!r}).encode(['the dog runs']); "
            "assert 'torch' not in sys.modules, 'torch imported'; print(v.shape)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(1, 8)"


class _RecordingTokenizer:
    """Stands in for a `tokenizers.Tokenizer` (whose methods cannot be patched) and records
    the words that reach it."""

    def __init__(self, tokenizer):
        self.tokenizer, self.words = tokenizer, []

    def encode_batch(self, chunks, **kwargs):
        self.words += [w for chunk in chunks for w in chunk]
        return self.tokenizer.encode_batch(chunks, **kwargs)


def test_new_words_in_one_batch_equal_word_by_word(tiny_static, monkeypatch):
    """The first sight of a batch of words (vocabulary look-ups for ASCII words, the rest
    in pre-tokenized chunks to the tokenizer) gives each word's tokens as the tokenizer
    gives them for the word alone."""
    monkeypatch.setattr(static, "WORDS_PER_CALL", 3)  # several chunks
    encoder = static.StaticEncoder(tiny_static).load()
    recording = encoder.word_tokenizer_ = _RecordingTokenizer(encoder.word_tokenizer_)
    words = ["the", "The", "DOG", "dogs", "Dogs.", "dog,", "(dog", "dog.cat", "a.b", ".", ",",
             "##s", "#", "x", "zebra", "dog[SEP]", "[cls]dog", "[CLS]", "[UNK]", "café",
             "ｄｏｇ", "dog\x00", "\x00", "d" * 150, "red" * 40, "big!house", "3", "dog3",
             "Fast", "small-house", "house's", "runs;", "a" * 101, "Dog.", "big.house"]
    order, ids, lengths = encoder._word_tokens(words)
    assert sorted(order) == sorted(words)
    tokens = [encoder.tokenizer_.encode(w, add_special_tokens=False).ids for w in order]
    assert lengths.tolist() == [len(t) for t in tokens]
    assert ids.tolist() == [i for t in tokens for i in t]
    # the look-ups did resolve words; the tokenizer got what they cannot
    assert {"the", "The", "DOG", "Dog.", "dog.cat", ".", "big.house", "Fast"}.isdisjoint(
        recording.words)
    assert {"dogs", "zebra", "dog[SEP]", "[cls]dog", "café", "ｄｏｇ", "dog\x00"} <= set(
        recording.words)
    # texts of them: a fresh encoder equals the exact path
    texts = [" ".join(words[i:i + 4]) for i in range(0, len(words), 4)]
    fresh = static.StaticEncoder(tiny_static, batch_size=3).encode(texts)
    exact = static.StaticEncoder(tiny_static).load()
    exact.by_word_ = False
    assert np.allclose(fresh, exact.encode(texts), atol=1e-6)


def test_unknown_tokens_count_toward_max_length(tiny_static):
    """model2vec's tokenizer truncates to max_length tokens before unknown ones are
    dropped: "x y dogs cat" keeps dog ##s, not dog ##s cat."""
    from model2vec import StaticModel

    theirs = StaticModel.from_pretrained(str(tiny_static)).encode(["x y dogs cats"],
                                                                  max_length=4)
    for by_word in (True, False):
        ours = static.StaticEncoder(tiny_static, max_length=4).load()
        ours.by_word_ = by_word
        assert np.allclose(ours.encode(["x y dogs cats"]), theirs, atol=1e-6)


def test_tokenizer_with_truncation_and_padding(tiny_static, tmp_path):
    """A model2vec folder whose tokenizer.json truncates and pads (as a saved StaticModel's
    can): the words still reach the tokenizer whole, unpadded."""
    import shutil

    from tokenizers import Tokenizer

    folder = tmp_path / "padded"
    shutil.copytree(tiny_static, folder)
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(1)
    tokenizer.enable_padding(length=8)
    tokenizer.save(str(folder / "tokenizer.json"))
    encoder = static.StaticEncoder(folder).load()
    assert encoder.word_tokenizer_.truncation is None and encoder.word_tokenizer_.padding is None
    words = ["dogs", "runs", "cats", "zebra"]
    order, ids, lengths = encoder._word_tokens(words)
    plain = static.StaticEncoder(tiny_static).load()
    assert (order, ids.tolist(), lengths.tolist()) == (
        lambda o, i, n: (o, i.tolist(), n.tolist()))(*plain._word_tokens(words))


def test_new_words_of_the_real_vocabulary(glosses):
    """The same on the distilled MiniLM's BERT vocabulary, whose look-ups resolve most
    words, special tokens inside words included."""
    encoder = TextEncoder("builtin:minilm-static").load().static_
    words = sorted({w for text in glosses["text"].to_list()[:300] for w in text.split()})
    words += ["[CLS]", "x[SEP]y", "[mask]", "[UNK]dog", "[unused5]", "Dog.", "naïve", "ﬁne",
              "U.S.A.", "e-mail", "£5", "10,000", "C++", "<b>", "\\n", "~~", "a" * 99,
              "a" * 101, "z" * 300, "##ing", "Hello!!", "''", "`x`"]
    order, ids, lengths = encoder._word_tokens(words)
    tokens = [encoder.tokenizer_.encode(w, add_special_tokens=False).ids for w in order]
    assert sorted(order) == sorted(words)
    assert lengths.tolist() == [len(t) for t in tokens]
    assert ids.tolist() == [i for t in tokens for i in t]


def test_seen_words_skip_the_tokenizer(tiny_static):
    encoder = static.StaticEncoder(tiny_static).load()
    recording = encoder.word_tokenizer_ = _RecordingTokenizer(encoder.word_tokenizer_)
    texts = ["the dogs run", "zebra cats", "Dog."]
    first = encoder.encode(texts)
    assert set(recording.words) == {"dogs", "run", "zebra", "cats"}
    recording.words.clear()
    assert np.array_equal(encoder.encode(texts), first) and not recording.words
    encoder.forget_words()
    assert np.array_equal(encoder.encode(texts), first)
    assert set(recording.words) == {"dogs", "run", "zebra", "cats"}
