"""The builtin datasets load from their packages with their published sizes."""

import pytest

from curate.config import DataConfig
from curate.data import BUILTINS, load_pool
from curate.data.builtin import FASHION_MNIST_DIR
from curate.data.debian import WORDNET_DIR
from curate.data.dictionaries import DICTD_DIR

DEBIAN = {"wordnet": WORDNET_DIR, "fashion-mnist": FASHION_MNIST_DIR, "dictionaries": DICTD_DIR}
SIZES = {"wordnet": (117_659, 45), "bbc-news": (2_225, 5), "chatterbot": (2_026, 21),
         "fashion-mnist": (70_000, 10), "digits": (1_797, 10),
         "dictionaries": (271_264, 6)}


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtin_sizes(name):
    if name in DEBIAN and not DEBIAN[name].is_dir():
        pytest.skip(f"Debian data for {name} not installed (make data installs it)")
    pool = load_pool(DataConfig(source=f"builtin:{name}"))
    rows, labels = SIZES[name]
    assert len(pool) == rows and len(set(pool.labels())) == labels
    assert pool.frame["id"].n_unique() == rows


def test_modalities():
    chat = load_pool(DataConfig(source="builtin:chatterbot"))
    assert chat.schema.prompt == "prompt" and "\n" in chat.texts()[0]
    digits = load_pool(DataConfig(source="builtin:digits"))
    assert digits.images().shape == (1797, 8, 8) and digits.images().max() == 255


def test_wordnet_labels_are_lexnames():
    if not WORDNET_DIR.is_dir():
        pytest.skip("wordnet-base not installed")
    pool = load_pool(DataConfig(source="builtin:wordnet"))
    row = pool.frame.filter(pool.frame["id"] == "n00001740").row(0, named=True)
    assert row["label"] == "noun.Tops" and row["text"].startswith("that which is perceived")
