"""Static embeddings: a vector per vocabulary token, a sentence is the mean of its tokens.

The format and the inference are model2vec's (`StaticModel`): a folder with
`model.safetensors` (`embeddings`, optionally `weights` and `mapping`), `tokenizer.json` and
`config.json` (`model_type: model2vec`, `normalize`). Any such folder or Hub id works as
`embed.model`; `builtin:minilm-static` is distilled once from the bundled MiniLM into
the derived-models folder (`curate.embed.models.models_dir`, `~/.cache/curate/models`).

Distillation follows model2vec's `distill` (model2vec/distill/distillation.py and
inference.py). Its `[distill]` extra pins transformers < 5.4, so it is written here:
1. one forward pass per vocabulary token, `[CLS] token [SEP]`, mean-pooled over the three
   positions (special tokens and `[unused..]` placeholders get a zero row);
2. PCA of those vectors to `dims` components (centred);
3. SIF weights from a Zipf estimate of each token's frequency by its rank in the vocabulary
   (rank r: p ~ 1/(r+1), weight = sif / (sif + p)), multiplied into the rows.
Inference is batched numpy (`StaticEncoder.encode`): no torch on the hot path. Vectors equal
`StaticModel.encode`'s (tests/embed/test_static.py checks the round trip).

References:
    Tulkens & van Dongen, "Model2Vec: Fast State-of-the-Art Static Embeddings" (2024).
    Arora, Liang & Ma, "A Simple but Tough-to-Beat Baseline for Sentence Embeddings"
    (SIF, ICLR 2017).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from itertools import chain
from pathlib import Path

import numpy as np

from curate.embed.models import STATIC_BUILTINS, model_identity, read_model_json, resolve_model
from curate.errors import CurateError
from curate.store import atomic_path

# name -> (transformer it is distilled from, PCA dimensions)
SIF = 1e-4
SKIPPED_TOKENS = re.compile(r"\[unused\d+\]")
DISTILL_VERSION = 1
# model2vec's defaults: texts cut to max_length tokens (after cutting the characters to
# max_length x the median token length, as StaticModel.tokenize does).
MAX_LENGTH = 512
# Characters Python's str.split() splits on but a BERT normalizer deletes (controls) or keeps
# inside a word: texts holding one take the exact path.
SPLIT_DIFFERS = re.compile("[\x0b\x0c\x1c-\x1f\x85\u2028\u2029]")
# BERT's pre-tokenization of a printable ASCII word: runs of letters and digits, and each
# other character alone (all ASCII punctuation to BERT).
ASCII_PIECES = re.compile(r"[A-Za-z0-9]+|[^A-Za-z0-9]")
ASCII_PIECES_LOWER = re.compile(r"[a-z0-9]+|[^a-z0-9]")
WORDS_PER_CALL = 256  # words per pre-tokenized sequence given to the tokenizer
MAX_WORDS = 262_144  # words whose token sums are kept (256 MB at 256 dimensions)


def is_static(name: str) -> bool:
    """True for a static builtin, or a folder / Hub id whose config says model2vec."""
    if name in STATIC_BUILTINS:
        return True
    if name.startswith("builtin:"):
        return False
    config = read_model_json(name, "config.json")
    return isinstance(config, dict) and config.get("model_type") == "model2vec"


def distill(source: str, target: Path, dims: int = 256, sif: float = SIF,
            batch_size: int = 1024) -> Path:
    """Distil the transformer `source` into a model2vec folder at `target`."""
    import torch
    from sklearn.decomposition import PCA
    from tokenizers import Tokenizer
    from transformers import AutoModel

    folder = Path(resolve_model(source))
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    vocab = tokenizer.get_vocab()
    tokens = sorted(vocab, key=vocab.get)
    special = {t.content for t in tokenizer.get_added_tokens_decoder().values() if t.special}
    kept = np.array([t not in special and not SKIPPED_TOKENS.fullmatch(t) for t in tokens])
    ids = np.array([vocab[t] for t in tokens])[kept]
    # What the tokenizer puts around a text ([CLS] ... [SEP] for BERT), from a probe word.
    full, bare = (tokenizer.encode("a", add_special_tokens=flag).ids for flag in (True, False))
    at = full.index(bare[0])
    prefix, suffix = full[:at], full[at + len(bare):]
    model = AutoModel.from_pretrained(str(folder)).float().eval()
    rows = []
    with torch.inference_mode():
        for start in range(0, len(ids), batch_size):
            batch = torch.tensor([[*prefix, i, *suffix] for i in ids[start:start + batch_size]])
            hidden = model(input_ids=batch, attention_mask=torch.ones_like(batch))
            rows.append(hidden.last_hidden_state.mean(1).numpy())
    stacked = np.vstack(rows)
    vectors = PCA(n_components=min(dims, *stacked.shape), svd_solver="full").fit_transform(stacked)
    rank = np.arange(2, len(ids) + 2, dtype=np.float64)  # model2vec's Zipf ranks start at 2
    frequency = (1 / rank) / np.sum(1 / rank)
    vectors *= (sif / (sif + frequency))[:, None]
    table = np.zeros((len(tokens), vectors.shape[1]), dtype=np.float32)
    table[np.flatnonzero(kept)] = vectors
    config = {"model_type": "model2vec", "architectures": ["StaticModel"],
              "tokenizer_name": source, "apply_pca": dims, "sif_coefficient": sif,
              "hidden_dim": table.shape[1], "seq_length": 1000000, "normalize": True,
              "pooling": "mean", "embedding_dtype": "float32",
              "distilled_by": f"curate v{DISTILL_VERSION}"}
    save(target, table, tokenizer, config)
    return target


def save(target: Path, table: np.ndarray, tokenizer, config: dict) -> None:
    """Write a model2vec folder (model2vec's layout, readable by `StaticModel`)."""
    from safetensors.numpy import save_file

    modules = [{"idx": 0, "name": "0", "path": ".",
                "type": "sentence_transformers.models.StaticEmbedding"},
               {"idx": 1, "name": "1", "path": "1_Normalize",
                "type": "sentence_transformers.models.Normalize"}]
    with atomic_path(Path(target)) as tmp:
        tmp.mkdir()
        save_file({"embeddings": np.ascontiguousarray(table)}, str(tmp / "model.safetensors"))
        tokenizer.save(str(tmp / "tokenizer.json"), pretty=False)
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
        (tmp / "modules.json").write_text(json.dumps(modules, indent=2))


def static_identity(name: str) -> str:
    """What the cache key records: for a builtin, its source model and distillation
    settings (so it is known before distilling); else `model_identity`."""
    if name not in STATIC_BUILTINS:
        return model_identity(name)
    source, dims = STATIC_BUILTINS[name]
    digest = hashlib.sha256(f"{model_identity(source)}|{dims}|{SIF}|{DISTILL_VERSION}"
                            .encode()).hexdigest()[:16]
    return f"{name}@{digest}"


def static_folder(name: str, models_dir: Path) -> Path:
    """A local model2vec folder for `name`: distilled once for a builtin, downloaded once
    (then the Hub cache) for a Hub id."""
    if name in STATIC_BUILTINS:
        digest = static_identity(name).rsplit("@", 1)[1]
        target = Path(models_dir) / f"{name.removeprefix('builtin:')}-{digest}"
        if not (target / "model.safetensors").is_file():
            distill(STATIC_BUILTINS[name][0], target, STATIC_BUILTINS[name][1])
        return target
    folder = Path(name).expanduser()
    if folder.is_dir():
        return folder
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, allow_patterns=["*.json", "*.safetensors"]))
    except Exception as err:  # offline without it cached, no such repo
        raise CurateError(f"cannot load static embedding model {name}: "
                          f"{str(err).splitlines()[0]}",
                          "check embed.model, or pre-download it and unset HF_HUB_OFFLINE"
                          ) from None


class StaticEncoder:
    """Mean of token vectors, L2-normalised (when the model's config says normalize).

    Args:
        folder: a model2vec folder (`static_folder`).
        max_length: tokens kept per text (model2vec's default 512).
        batch_size: texts per numpy batch.
    """

    def __init__(self, folder: Path, max_length: int = MAX_LENGTH, batch_size: int = 4096):
        self.folder = folder
        self.max_length = max_length
        self.batch_size = batch_size

    def load(self) -> StaticEncoder:
        from safetensors import safe_open
        from tokenizers import Tokenizer

        folder = Path(self.folder)
        with safe_open(str(folder / "model.safetensors"), framework="numpy") as f:
            names = set(f.keys())
            self.table_ = f.get_tensor("embeddings").astype(np.float32, copy=False)
            weights = f.get_tensor("weights") if "weights" in names else None
            mapping = f.get_tensor("mapping") if "mapping" in names else None
        if weights is not None:  # per-token weights over a (quantized) shared table
            rows = mapping if mapping is not None else np.arange(len(weights))
            self.table_ = self.table_[rows] * weights[:, None].astype(np.float32)
        elif mapping is not None:
            self.table_ = self.table_[mapping]
        self.tokenizer_ = Tokenizer.from_file(str(folder / "tokenizer.json"))
        config = json.loads((folder / "config.json").read_text())
        self.normalize_ = bool(config.get("normalize", False))
        model = self.tokenizer_.model
        tokens = self.tokenizer_.get_vocab()
        unk = getattr(model, "unk_token", None)
        self.unk_id_ = tokens.get(unk) if unk else None
        lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
        self.chars_ = self.max_length * int(np.median(lengths))
        # A BERT WordPiece tokenizer treats whitespace-separated words independently, so a
        # text's tokens are its words' tokens, each word tokenized once (`_word_means`).
        normalizer = self.tokenizer_.normalizer
        self.by_word_ = (type(model).__name__ == "WordPiece"
                         and type(self.tokenizer_.pre_tokenizer).__name__ == "BertPreTokenizer"
                         and (normalizer is None or type(normalizer).__name__ == "BertNormalizer"))
        # Words the vocabulary resolves without the tokenizer (`_word_tokens`): only where
        # WordPiece keeps every vocabulary entry whole (none longer than the words it cuts).
        self.vocab_ = (tokens if self.by_word_
                       and int(lengths.max(initial=0)) <= model.max_input_chars_per_word
                       else None)
        self.lowercase_ = normalizer is not None and bool(normalizer.lowercase)
        added = sorted(t.content for t in self.tokenizer_.get_added_tokens_decoder().values())
        self.added_ = (re.compile("|".join(map(re.escape, added)), re.IGNORECASE)
                       if added else None)
        # Words go to the tokenizer as pre-tokenized chunks: no truncation, no padding there.
        self.word_tokenizer_ = self.tokenizer_
        if self.tokenizer_.truncation is not None or self.tokenizer_.padding is not None:
            self.word_tokenizer_ = Tokenizer.from_str(self.tokenizer_.to_str())
            self.word_tokenizer_.no_truncation()
            self.word_tokenizer_.no_padding()
        self.forget_words()
        return self

    def forget_words(self) -> None:
        """Drop the per-word token sums: the state of a fresh encoder."""
        self.words_: dict[str, int] = {}
        self.word_sums_ = np.zeros((1024, self.dim), dtype=np.float32)
        self.word_counts_ = np.zeros(1024, dtype=np.float32)  # tokens, unknown ones left out
        self.word_lengths_ = np.zeros(1024, dtype=np.float32)  # tokens, unknown ones too

    def _word_means(self, batch: list[str]) -> np.ndarray:
        """`_means` from per-word token sums, each word tokenized once per encoder: the
        tokenizer was most of the time. Exact for BERT tokenizers; texts over max_length
        tokens or with characters where splitting differs take the exact path, and so do
        texts of more than max_length / 2 words (mostly over max_length tokens anyway)."""
        from scipy.sparse import csr_matrix

        split = [text.split() for text in batch]
        lengths = np.fromiter(map(len, split), dtype=np.int64, count=len(batch))
        exact = lengths > self.max_length // 2
        if SPLIT_DIFFERS.search("\n".join(batch)):
            exact |= np.fromiter((SPLIT_DIFFERS.search(t) is not None for t in batch),
                                 dtype=bool, count=len(batch))
        if exact.any():
            split = [[] if skip else ws for skip, ws in zip(exact, split, strict=True)]
            lengths[exact] = 0
        flat = list(chain.from_iterable(split))
        new = set(flat).difference(self.words_)
        if len(self.words_) + len(new) > MAX_WORDS:
            self.forget_words()
            new = set(flat)
        if new:
            self._add_words(sorted(new))
        words = np.fromiter(map(self.words_.__getitem__, flat), dtype=np.int64,
                            count=len(flat))
        size = len(self.words_)
        counts = csr_matrix((np.ones(len(words), dtype=np.float32), words,
                             np.concatenate([[0], np.cumsum(lengths)])),
                            shape=(len(batch), size))
        tokens = counts @ self.word_counts_[:size]
        out = np.asarray(counts @ self.word_sums_[:size]) / np.maximum(tokens, 1)[:, None]
        # cut to max_length tokens before unknown ones are dropped, as model2vec does
        exact = np.flatnonzero(exact | (counts @ self.word_lengths_[:size] > self.max_length))
        if len(exact):
            out[exact] = self._means([batch[i] for i in exact])
        return out

    def _add_words(self, words: list[str]) -> None:
        from scipy.sparse import csr_matrix

        words, ids, lengths = self._word_tokens(words)
        known = lengths
        if self.unk_id_ is not None:
            unknown = ids == self.unk_id_
            if unknown.any():
                known = lengths - np.bincount(np.repeat(np.arange(len(words)), lengths),
                                                weights=unknown, minlength=len(words)
                                                ).astype(np.int64)
                ids = ids[~unknown]
        start, end = len(self.words_), len(self.words_) + len(words)
        if end > len(self.word_counts_):  # grow by doubling, copying only the rows in use
            size = max(end, 2 * len(self.word_counts_))
            for name in ("word_sums_", "word_counts_", "word_lengths_"):
                old = getattr(self, name)
                grown = np.empty((size, *old.shape[1:]), dtype=np.float32)
                grown[:start] = old[:start]
                setattr(self, name, grown)
        tokens = csr_matrix((np.ones(len(ids), dtype=np.float32), ids,
                             np.concatenate([[0], np.cumsum(known)])),
                            shape=(len(words), len(self.table_)))
        self.word_sums_[start:end] = tokens @ self.table_
        self.word_counts_[start:end] = known
        self.word_lengths_[start:end] = lengths
        self.words_.update(zip(words, range(start, end), strict=True))

    def _word_tokens(self, words: list[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
        """The words reordered, their token ids one after another (unknown tokens kept)
        and each word's count of them, as the tokenizer gives them for the word alone.

        The tokenizer is slow per word (benchmarks/embedding.md, "Static model: word lookups
        and the sparse mean"), so printable ASCII words are looked up in the vocabulary
        first: there BERT normalization is at most lowercasing, the
        pre-tokenizer splits runs of letters and digits from each punctuation character,
        and WordPiece keeps a piece that is in the vocabulary whole. The words this cannot
        resolve (a piece not in the vocabulary, non-ASCII, an added token inside) go to the
        tokenizer in one batch call, as pre-tokenized chunks (fewer Python objects)."""
        ids: list[int] = []
        lengths: list[int] = []
        done: list[str] = []
        slow: list[str] = []
        if self.vocab_ is None:
            slow = words
        else:
            get = self.vocab_.get
            pieces = (ASCII_PIECES_LOWER if self.lowercase_ else ASCII_PIECES).findall
            lowered = map(str.lower, words) if self.lowercase_ else words
            added = (set(filter(self.added_.search, words))
                     if self.added_ is not None and self.added_.search("\n".join(words))
                     else ())
            for word, low in zip(words, lowered, strict=True):
                if word.isascii() and word.isprintable() and word not in added:
                    if (len(word) == 1 or word.isalnum()) and (i := get(low)) is not None:
                        ids.append(i)  # one piece, in the vocabulary
                        lengths.append(1)
                        done.append(word)
                        continue
                    found = list(map(get, pieces(low)))
                    if None not in found:
                        ids.extend(found)
                        lengths.append(len(found))
                        done.append(word)
                        continue
                slow.append(word)
        ids_ = np.fromiter(ids, dtype=np.int64, count=len(ids))
        lengths_ = np.fromiter(lengths, dtype=np.int64, count=len(lengths))
        if slow:
            chunks = [slow[i:i + WORDS_PER_CALL] for i in range(0, len(slow), WORDS_PER_CALL)]
            encoded = self.word_tokenizer_.encode_batch(chunks, is_pretokenized=True,
                                                        add_special_tokens=False)
            slow_ids = [np.array(e.ids, dtype=np.int64) for e in encoded]
            owners = [np.array(e.word_ids, dtype=np.int64) for e in encoded]
            counts = [np.bincount(o, minlength=len(c)) for o, c in zip(owners, chunks,
                                                                       strict=True)]
            ids_ = np.concatenate([ids_, *slow_ids])
            lengths_ = np.concatenate([lengths_, *counts])
        return done + slow, ids_, lengths_

    def _means(self, batch: list[str]) -> np.ndarray:
        """Mean token row per text: a sparse (texts x vocabulary) count matrix times the
        table, much faster than gathering a row per token and summing (benchmarks/embedding.md,
        "Static model: word lookups and the sparse mean")."""
        tokens = self._token_counts(batch)
        counts = np.asarray(tokens.sum(axis=1)).ravel()
        return np.asarray(tokens @ self.table_) / np.maximum(counts, 1)[:, None]

    def _token_counts(self, batch: list[str]):
        """Sparse (texts x vocabulary) token counts, cut to max_length tokens, then unknown
        tokens dropped (model2vec's tokenizer truncates, then it drops them)."""
        from scipy.sparse import csr_matrix

        encoded = self.tokenizer_.encode_batch_fast(batch, add_special_tokens=False)
        lengths = np.fromiter((len(e.ids) for e in encoded), dtype=np.int64, count=len(batch))
        ids = np.fromiter((i for e in encoded for i in e.ids), dtype=np.int64,
                          count=int(lengths.sum()))
        rows = np.repeat(np.arange(len(batch)), lengths)
        position = np.arange(len(ids)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        kept = position < self.max_length
        if self.unk_id_ is not None:
            kept &= ids != self.unk_id_
        return csr_matrix((np.ones(int(kept.sum()), dtype=np.float32),
                           (rows[kept], ids[kept])), shape=(len(batch), len(self.table_)))

    @property
    def dim(self) -> int:
        return int(self.table_.shape[1])

    def encode(self, texts: list[str], on_batch: Callable[[int], None] | None = None
               ) -> np.ndarray:
        """(N, dim) float32: per text the mean of its token rows; zeros for no tokens."""
        if not hasattr(self, "table_"):
            self.load()
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = [t[:self.chars_] for t in texts[start:start + self.batch_size]]
            means = self._word_means(batch) if self.by_word_ else self._means(batch)
            if self.normalize_:  # per batch: the rows are still in cache
                means /= np.linalg.norm(means, axis=1, keepdims=True) + 1e-32
            out[start:start + len(batch)] = means
            if on_batch:
                on_batch(len(batch))
        return out
