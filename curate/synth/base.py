"""The one interface every synthetic-data generator shares.

A generator is shaped like a scikit-learn estimator: its parameters are explicit keyword
arguments of `__init__`, stored as given. `fit(real, pool, seed, services)` learns from the
selected real rows (and, when given, the whole pool); `generate(per_label, seed)` returns new
rows in the pool's own columns plus `id` (`synth-<content hash>`), `source` (the generator's
name), `parent_id` (the real row a synthetic row derives from, where one exists) and
`reason`. Each generator filters its own candidates (MH for the GAN, a probe for text);
`filtered=False` returns the raw candidates, so a benchmark can measure what the filter adds.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import polars as pl

from curate.data.pool import Pool, stable_ids
from curate.errors import CurateError
from curate.params import constraints

SYNTH_COLUMNS = ("id", "source", "parent_id", "reason")


@dataclass(frozen=True)
class Services:
    """What a generator may borrow from the run: the pool's embedding function (rows ->
    (N, d) L2-normalised vectors, as the selection saw them) and the model cache folder."""

    embed: Callable[[Pool], np.ndarray] | None = None
    cache_dir: Path = Path(".curate-cache")


class Generator:
    """Base class: subclasses set `name`, `modalities` and `parameter_constraints` and
    implement `_fit` and `_generate(label, n, rng, filtered)`, which returns the content
    columns (without the label) plus `parent_id` and `reason`, at most `n` rows."""

    name: ClassVar[str]
    modalities: ClassVar[tuple[str, ...]]
    # __init__ parameter -> allowed values (`curate.params`), checked by make_generator
    parameter_constraints: ClassVar[Mapping[str, object]] = constraints()

    def get_params(self) -> dict:
        return {p: getattr(self, p) for p in inspect.signature(type(self).__init__).parameters
                if p != "self"}

    def fit(self, real: Pool, pool: Pool | None = None, seed: int = 0,
            services: Services | None = None) -> Generator:
        if real.schema.label is None:
            raise CurateError(f"generator '{self.name}' makes rows per label but the pool has "
                              "no label column", "set data.label_column")
        if real.schema.modality not in self.modalities:
            raise CurateError(f"generator '{self.name}' cannot make {real.schema.modality} rows",
                              f"it makes {', '.join(self.modalities)} rows; see docs/synth.md")
        if len(real) == 0:
            raise CurateError(f"generator '{self.name}' has no real rows to learn from",
                              "raise the selection budget")
        self.schema_ = real.schema
        self.dtypes_ = dict(real.frame.schema)
        self.labels_ = sorted(set(real.labels()))
        self._fit(real, pool, seed, services or Services())
        return self

    def _fit(self, real: Pool, pool: Pool | None, seed: int, services: Services) -> None:
        raise NotImplementedError

    def _generate(self, label: str, n: int, rng: np.random.Generator, filtered: bool
                  ) -> pl.DataFrame:
        raise NotImplementedError

    def generate(self, per_label: dict[str, int], seed: int, filtered: bool = True
                 ) -> pl.DataFrame:
        """Up to `per_label[label]` new rows per label (a filter may keep fewer)."""
        unknown = sorted(set(per_label) - set(self.labels_))
        if unknown:
            raise CurateError(f"generator '{self.name}' never saw label '{unknown[0]}'",
                              "generate only labels present in the selected rows")
        rng = np.random.default_rng(seed)
        wanted = {k: v for k, v in sorted(per_label.items()) if v > 0}
        return self._finish(self._generate_all(wanted, rng, filtered))

    def _generate_all(self, per_label: dict[str, int], rng: np.random.Generator,
                      filtered: bool) -> list[pl.DataFrame]:
        """One `_generate` call per label; generators that batch across labels override this
        and return frames that carry the label column themselves."""
        return [self._generate(label, n, rng, filtered).with_columns(
            pl.lit(label).alias(self.schema_.label)) for label, n in per_label.items()]

    def _finish(self, parts: list[pl.DataFrame]) -> pl.DataFrame:
        content = self.schema_.content_columns()  # the label included
        types = {**{c: self.dtypes_[c] for c in content}, "parent_id": pl.Utf8}
        empty = pl.DataFrame(schema={**types, "reason": pl.Utf8})
        frame = pl.concat([empty, *(p.select(empty.columns).cast(types) for p in parts)])
        frame = frame.with_columns(pl.lit(self.name).alias("source"))
        ids = "synth-" + stable_ids(frame, ["source", *content])
        return frame.with_columns(ids.alias("id")).select(*SYNTH_COLUMNS, *content)


@contextlib.contextmanager
def single_thread():
    """Run torch on one thread. On a shared CPU, intra-op threads fight the other processes
    for cores: GAN training and SmolLM2 generation ran several times faster on one thread
    than on two (benchmarks/synth.md#one-torch-thread-for-generators)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def vector_rows(pool: Pool) -> np.ndarray:
    """The rows as float32 vectors a generator can learn: pixels scaled to [0, 1], or the
    pool's feature vectors as they are."""
    if pool.schema.modality == "image":
        images = pool.images()
        return images.reshape(len(images), -1).astype(np.float32) / 255.0
    return pool.vectors()


def vector_column(x: np.ndarray, modality: str) -> list:
    """Generated vectors back in the pool's form (pixels as 0-255 integers)."""
    if modality == "image":
        return list(np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8))
    return list(np.asarray(x, dtype=np.float32))
