import numpy as np
import pytest

from curate.config import DataConfig
from curate.data import load_pool
from curate.embed.image import EfficientNetLite0Encoder


def test_efficientnet_features_separate_digit_classes():
    pytest.importorskip("efficientnet_lite_pytorch")
    pool = load_pool(DataConfig(source="builtin:digits"))
    labels = pool.labels()
    rows = np.concatenate([np.flatnonzero(labels == d)[:10] for d in ("0", "1")])
    vectors = EfficientNetLite0Encoder(image_size=64).encode(pool.images()[rows])
    assert vectors.shape == (20, 1280)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    sims = vectors @ vectors.T
    same = (sims[:10, :10].sum() - 10) / 90 + (sims[10:, 10:].sum() - 10) / 90
    assert same / 2 > sims[:10, 10:].mean()  # pretrained features group the same digit
