"""The Pool: the candidate rows, with a stable string `id` and a schema naming the columns."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from curate.errors import CurateError

# curate's own columns where they meet the user's (subset.parquet, the Hub export, the Python
# API's subset). Prefixed, so that no column of the user's is ever renamed, replaced or
# dropped for them; load refuses a pool that has one.
SELECTOR, SOURCE, PARENT_ID, REASON = (
    "curate_selector", "curate_source", "curate_parent_id", "curate_reason")
BOOKKEEPING = (SELECTOR, SOURCE, PARENT_ID, REASON)


@dataclass(frozen=True)
class Schema:
    """Which column plays which role. Exactly one of text, prompt/response or image is set."""

    text: str | None = None
    prompt: str | None = None
    response: str | None = None
    image: str | None = None
    vectors: str | None = None
    label: str | None = None
    image_shape: tuple[int, ...] | None = None

    @property
    def modality(self) -> str:
        return "vectors" if self.vectors else "image" if self.image else "text"

    @property
    def instruction(self) -> bool:
        """Prompt/response pairs: an instruction-tuning pool."""
        return bool(self.prompt and self.response)

    def content_columns(self) -> list[str]:
        cols = [self.text, self.prompt, self.response, self.image, self.vectors, self.label]
        return [c for c in cols if c]


@dataclass
class Pool:
    frame: pl.DataFrame
    schema: Schema
    origin: str
    fingerprint: str = field(default="")
    # Rows load left out, by reason (e.g. {"null_label": 3}); recorded in the run manifest.
    dropped: dict[str, int] = field(default_factory=dict)
    # Those rows as dropped.parquet lists them (`dropped_rows`), and the rows read.
    dropped_rows: pl.DataFrame | None = None
    read: int = 0

    def __post_init__(self) -> None:
        if not self.fingerprint:
            self.fingerprint = fingerprint_frame(self.frame, ["id", *self.schema.content_columns()])
        self.read = self.read or len(self)

    def __len__(self) -> int:
        return self.frame.height

    @property
    def ids(self) -> np.ndarray:
        return self.frame["id"].to_numpy().astype(str)

    def texts(self) -> list[str]:
        """The text each row is embedded by: the text column, or prompt and response joined."""
        s = self.schema
        if s.text:
            return self.frame[s.text].cast(pl.Utf8).fill_null("").to_list()
        if s.prompt and s.response:
            prompts = self.frame[s.prompt].cast(pl.Utf8).fill_null("").to_list()
            responses = self.frame[s.response].cast(pl.Utf8).fill_null("").to_list()
            return [f"{p}\n{r}" for p, r in zip(prompts, responses, strict=True)]
        raise CurateError("this pool has no text column", "set data.text_column")

    def images(self) -> np.ndarray:
        """Images as an (N, *shape) uint8 or float array."""
        flat = _as_matrix(self.frame[self.schema.image])
        shape = self.schema.image_shape or (flat.shape[1],)
        return flat.reshape(len(flat), *shape)

    def vectors(self) -> np.ndarray:
        """Precomputed feature vectors from the vector column, as float32 (N, d): filled
        block by block, so the conversion holds one block's values beside the result, not
        a copy of the whole column's."""
        series = self.frame[self.schema.vectors]
        if not _is_nested(series) or not len(series):
            return _as_matrix(series, np.float32)
        blocks = _blocks(series, 2048, np.float32)
        first = next(blocks)
        matrix = np.empty((len(series), first.shape[1]), dtype=np.float32)
        matrix[:len(first)] = first
        start = len(first)
        for block in blocks:
            matrix[start:start + len(block)] = block
            start += len(block)
        return matrix

    def labels(self) -> np.ndarray | None:
        if not self.schema.label:
            return None
        return self.frame[self.schema.label].cast(pl.Utf8).fill_null("").to_numpy().astype(str)


DROPPED = ("id", "reason", "duplicate_of", "cosine")


def dropped_rows(frame: pl.DataFrame, schema: Schema, reason: str | list[str],
                 duplicate_of: np.ndarray | None = None, cosine: np.ndarray | None = None
                 ) -> pl.DataFrame:
    """Rows a stage left out, as the run's dropped.parquet lists them: id, reason, for a
    duplicate the id of the row kept in its place and their cosine similarity (null for
    the others), then what a user reads to see what went: the text (or prompt and response)
    and the label, as strings. Images and vectors stay out: the id finds them in the
    source. A content column named like one of curate's is written as `data_<name>`."""
    n = frame.height
    content = [c for c in (schema.text, schema.prompt, schema.response, schema.label) if c]
    return pl.DataFrame([
        frame["id"].cast(pl.Utf8),
        pl.Series("reason", [reason] * n if isinstance(reason, str) else reason, pl.Utf8),
        pl.Series("duplicate_of", duplicate_of if duplicate_of is not None else [None] * n,
                  pl.Utf8),
        pl.Series("cosine", cosine if cosine is not None else [None] * n, pl.Float32),
        *(frame[c].cast(pl.Utf8).alias(f"data_{c}" if c in DROPPED else c) for c in content),
    ])


def _as_matrix(series: pl.Series, dtype=None) -> np.ndarray:
    """A list or array column as a 2-D numpy array (rows must have equal length), owned and
    writable. An array column keeps its dtype and a list column becomes float64 (as its
    values did through Python floats), unless `dtype` is given. A list of numbers is read
    from the column's buffer: no Python float per value, no float64 detour, which cost a
    large list column several times the memory of an array column (benchmarks/embedding.md,
    "Vector columns read from the buffer")."""
    if isinstance(series.dtype, pl.Array):
        matrix = series.to_numpy()
        return matrix.astype(dtype or matrix.dtype, order="C", copy=not matrix.flags.writeable)
    if isinstance(series.dtype, pl.List) and series.dtype.inner.is_numeric():
        lengths = series.list.len()
        width = lengths.min() if len(series) else 0
        if series.null_count() or (len(series) and lengths.max() != width):
            raise _ragged(series)
        if not width:
            return np.zeros((len(series), 0), dtype=dtype or np.float64)
        flat = series.explode().to_numpy()  # the values, NaN where one is missing
        # astype copies: the result never shares polars' (read-only) buffer.
        return flat.astype(dtype or np.float64).reshape(len(series), width)
    try:
        return np.asarray(series.to_list(), dtype=dtype or np.float64)
    except (ValueError, TypeError):
        raise _ragged(series) from None


def _ragged(series: pl.Series) -> CurateError:
    return CurateError(f"column '{series.name}' must hold equal-length lists of numbers",
                       "fix the rows that differ")


def _blocks(series: pl.Series, rows: int = 2048, dtype=None):
    """`_as_matrix(series, dtype)` in blocks of rows (their bytes, joined, are its bytes),
    so a large column is hashed or converted without a copy of all of it."""
    if isinstance(series.dtype, pl.List):
        lengths = series.list.len()
        if series.null_count() or (len(series) and lengths.max() != lengths.min()):
            raise _ragged(series)
    for start in range(0, len(series), rows):
        yield _as_matrix(series.slice(start, rows), dtype)


def _is_nested(series: pl.Series) -> bool:
    return isinstance(series.dtype, pl.Array | pl.List)


def _column_chunks(series: pl.Series):
    """What a column is fingerprinted by, in pieces (bytes or C-contiguous arrays)."""
    if _is_nested(series):
        yield from _blocks(series)  # C-contiguous arrays: hashed as their bytes
        return
    values = series.cast(pl.Utf8, strict=False).fill_null("\x00").to_list()
    yield "\x1e".join(values).encode()


def fingerprint_frame(frame: pl.DataFrame, columns: list[str]) -> str:
    """sha256 over the named columns' contents, in row order."""
    digest = hashlib.sha256()
    for name in columns:
        digest.update(name.encode() + b"\x1f")
        for chunk in _column_chunks(frame[name]):
            digest.update(chunk)
    return digest.hexdigest()


def _iter_row_strings(series: pl.Series):
    if _is_nested(series):
        return (row.tobytes().hex() for block in _blocks(series) for row in block)
    return iter(series.cast(pl.Utf8, strict=False).fill_null("").to_list())


def stable_ids(frame: pl.DataFrame, columns: list[str]) -> pl.Series:
    """Content-hash ids; repeated content gets `-1`, `-2`... in order of appearance."""
    seen: dict[str, int] = {}
    ids = []
    for row in zip(*(_iter_row_strings(frame[c]) for c in columns), strict=True):
        base = hashlib.sha1("\x1f".join(row).encode()).hexdigest()[:16]
        count = seen.get(base, 0)
        seen[base] = count + 1
        ids.append(base if count == 0 else f"{base}-{count}")
    return pl.Series("id", ids)
