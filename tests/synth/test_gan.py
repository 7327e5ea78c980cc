"""The conditional GAN + MH generator: determinism, rows, and MH moving samples to the data."""

import numpy as np
import polars as pl
import pytest

from curate.config import DataConfig
from curate.data import Pool, Schema, load_pool
from curate.synth import make_generator
from curate.synth.gan import stratified_folds


def ring(rng, n, shift):
    """n points around 8 tight modes on a circle of radius 2, rotated by `shift`."""
    angles = rng.integers(0, 8, n) * np.pi / 4 + shift
    return np.stack([2 * np.cos(angles), 2 * np.sin(angles)], 1) + rng.normal(0, 0.1, (n, 2))


def mmd(a, b, gamma=2.0):
    """Squared MMD with an RBF kernel (biased estimate), by brute force."""
    def k(x, y):
        return np.exp(-gamma * ((x[:, None] - y[None]) ** 2).sum(-1)).mean()
    return k(a, a) + k(b, b) - 2 * k(a, b)


@pytest.fixture(scope="module")
def rings() -> Pool:
    rng = np.random.default_rng(0)
    x = np.concatenate([ring(rng, 200, 0), ring(rng, 200, np.pi / 8)]).astype(np.float32)
    frame = pl.DataFrame({"id": [f"r{i}" for i in range(400)], "v": list(x),
                          "label": ["a"] * 200 + ["b"] * 200})
    return Pool(frame=frame, schema=Schema(vectors="v", label="label"), origin="rings")


def vectors(rows: pl.DataFrame) -> np.ndarray:
    return np.stack(rows["v"].to_list())


@pytest.mark.slow
def test_mh_samples_are_closer_to_the_data_than_raw_generator_samples(rings):
    rng = np.random.default_rng(1)
    reference = ring(rng, 400, 0)  # fresh data of label "a"
    for seed in (0, 1):
        gen = make_generator("mh-gan", {"steps": 1000, "refine_steps": 1000, "hidden": 64}
                             ).fit(rings, seed=seed)
        mh = vectors(gen.generate({"a": 300}, seed=seed))
        raw = vectors(gen.generate({"a": 300}, seed=seed, filtered=False))
        assert len(mh) == 300
        assert mmd(mh, reference) < 0.8 * mmd(raw, reference)


def test_seeded_fits_repeat_exactly_and_rows_are_well_formed():
    pool = load_pool(DataConfig(source="builtin:digits"))
    few = Pool(frame=pool.frame.filter(pl.int_range(pl.len()).over("label") < 5),
               schema=pool.schema, origin=pool.origin)
    params = {"steps": 30, "refine_steps": 10, "hidden": 32, "discriminators": 2}
    rows = [make_generator("mh-gan", params).fit(few, seed=3).generate({"4": 6, "9": 6}, 7)
            for _ in range(2)]
    assert rows[0].equals(rows[1])
    assert rows[0]["label"].to_list() == ["4"] * 6 + ["9"] * 6
    assert (rows[0]["source"] == "mh-gan").all() and rows[0]["parent_id"].is_null().all()
    assert rows[0]["reason"].str.starts_with("MH chain from ").all()
    assert rows[0].schema["pixels"] == pool.frame.schema["pixels"]  # uint8, 64 per row
    other = make_generator("mh-gan", params).fit(few, seed=4).generate({"4": 6, "9": 6}, 7)
    assert not other.equals(rows[0])


def test_folds_are_stratified_and_cover_every_row():
    labels = np.repeat(np.array(["a", "b", "c"]), [10, 5, 3])
    folds = stratified_folds(labels, 5, np.random.default_rng(0))
    for label in "abc":
        counts = np.bincount(folds[labels == label], minlength=5)
        assert counts.max() - counts.min() <= 1
