"""The Pool: the candidate rows, with a stable string `id` and a schema naming the columns."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from curate.errors import CurateError


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

    def __post_init__(self) -> None:
        if not self.fingerprint:
            self.fingerprint = fingerprint_frame(self.frame, ["id", *self.schema.content_columns()])

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
        """Precomputed feature vectors from the vector column, as float32 (N, d)."""
        return _as_matrix(self.frame[self.schema.vectors]).astype(np.float32)

    def labels(self) -> np.ndarray | None:
        if not self.schema.label:
            return None
        return self.frame[self.schema.label].cast(pl.Utf8).fill_null("").to_numpy().astype(str)


def _as_matrix(series: pl.Series) -> np.ndarray:
    """A list or array column as a 2-D numpy array (rows must have equal length)."""
    if isinstance(series.dtype, pl.Array):
        return np.ascontiguousarray(series.to_numpy())
    try:
        return np.asarray(series.to_list(), dtype=np.float64)
    except (ValueError, TypeError):
        raise CurateError(f"column '{series.name}' must hold equal-length lists of numbers",
                          "fix the rows that differ") from None


def _is_nested(series: pl.Series) -> bool:
    return isinstance(series.dtype, pl.Array | pl.List)


def _column_bytes(series: pl.Series) -> bytes:
    if _is_nested(series):
        return _as_matrix(series).tobytes()
    values = series.cast(pl.Utf8, strict=False).fill_null("\x00").to_list()
    return "\x1e".join(values).encode()


def fingerprint_frame(frame: pl.DataFrame, columns: list[str]) -> str:
    """sha256 over the named columns' contents, in row order."""
    digest = hashlib.sha256()
    for name in columns:
        digest.update(name.encode() + b"\x1f")
        digest.update(_column_bytes(frame[name]))
    return digest.hexdigest()


def _row_strings(series: pl.Series) -> list[str]:
    if _is_nested(series):
        return [row.tobytes().hex() for row in _as_matrix(series)]
    return series.cast(pl.Utf8, strict=False).fill_null("").to_list()


def stable_ids(frame: pl.DataFrame, columns: list[str]) -> pl.Series:
    """Content-hash ids; repeated content gets `-1`, `-2`... in order of appearance."""
    seen: dict[str, int] = {}
    ids = []
    for row in zip(*(_row_strings(frame[c]) for c in columns), strict=True):
        base = hashlib.sha1("\x1f".join(row).encode()).hexdigest()[:16]
        count = seen.get(base, 0)
        seen[base] = count + 1
        ids.append(base if count == 0 else f"{base}-{count}")
    return pl.Series("id", ids)
