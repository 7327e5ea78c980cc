"""Issue 11 risk: a list-typed vector column took 3.2x the memory of a fixed-size one (3.5 GB
vs 1.08 GB at 1M x 64): every row went through Python floats and a float64 copy. It is
converted straight from the column's buffer now, and hashed in blocks; ids and
fingerprints are unchanged."""

import hashlib
import tracemalloc

import numpy as np
import polars as pl
import pytest

from curate.data.pool import Pool, Schema, fingerprint_frame, stable_ids
from curate.errors import CurateError


def _frame(rows=50, dim=6, seed=7):
    rng = np.random.default_rng(seed)
    return pl.DataFrame({"vec": rng.normal(size=(rows, dim)).astype(np.float32).tolist(),
                         "ivec": rng.integers(0, 9, size=(rows, 3)).tolist(),
                         "label": [f"c{i % 3}" for i in range(rows)]},
                        schema={"vec": pl.List(pl.Float32), "ivec": pl.List(pl.Int64),
                                "label": pl.Utf8})


def _pool(frame, column="vec"):
    frame = frame.with_columns(pl.Series("id", [f"r{i}" for i in range(frame.height)]))
    return Pool(frame=frame, schema=Schema(vectors=column), origin="test", fingerprint="x")


@pytest.mark.parametrize("dtype", [pl.List(pl.Float32), pl.List(pl.Float64),
                                   pl.Array(pl.Float32, 6), pl.List(pl.Int32)])
def test_vectors_from_list_or_array_columns(dtype):
    frame = _frame()
    expected = np.asarray(frame["vec"].to_list(), dtype=np.float64)
    if dtype.inner == pl.Int32:
        expected = np.round(expected * 10)
    frame = frame.with_columns(pl.Series("vec", expected.tolist()).cast(dtype))
    vectors = _pool(frame).vectors()
    assert vectors.dtype == np.float32 and vectors.shape == (50, 6)
    assert vectors.flags.writeable and vectors.flags.c_contiguous
    assert np.array_equal(vectors, expected.astype(np.float32))


@pytest.mark.parametrize("bad", [[[1.0, 2.0], [1.0]], [[1.0, 2.0], None]])
def test_ragged_or_null_vectors_are_one_line(bad):
    frame = pl.DataFrame({"vec": bad}, schema={"vec": pl.List(pl.Float64)})
    with pytest.raises(CurateError, match="equal-length lists of numbers"):
        _pool(frame).vectors()


def test_a_missing_number_is_nan_as_before():  # the embed stage then names it (NaN or inf)
    frame = pl.DataFrame({"vec": [[1.0, None], [2.0, 3.0]]}, schema={"vec": pl.List(pl.Float64)})
    assert np.isnan(_pool(frame).vectors()[0, 1])


def test_ids_and_fingerprints_are_unchanged():
    """Values computed by the earlier (python-list) conversion: the cache and content ids of
    existing vector pools stay valid."""
    frame = _frame()
    columns = ["vec", "ivec", "label"]
    assert fingerprint_frame(frame, columns) == (
        "83299135c48baed45963402f0b020e09817a127d62fa1ac40c252814fbbd94d3")
    ids = stable_ids(frame, columns).to_list()
    assert ids[:3] == ["c95e74561cf5e13a", "42d5d4a08c05c051", "d73e435b3141c3d8"]
    assert hashlib.sha256("".join(ids).encode()).hexdigest() == (
        "1d5af44ad2b28938e4ed2aa990516798351489409378521773dbf3741cb8c5ee")


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_list_column_costs_no_more_than_its_vectors():
    """Python-side peak (tracemalloc sees numpy and Python objects, not polars' buffers):
    the float32 result plus little, where the detour through Python floats took ~10x."""
    frame = _frame(rows=20_000, dim=64)
    pool = _pool(frame)
    result_bytes = 20_000 * 64 * 4
    assert _peak(pool.vectors) < 1.5 * result_bytes
    # Fingerprinting hashes the column in blocks, never the whole float64 matrix at once.
    assert _peak(lambda: fingerprint_frame(frame, ["vec"])) < 0.5 * result_bytes
