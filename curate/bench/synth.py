"""`curate bench --synth N`: does adding synthetic rows to a selection train a better probe?

For each selection, the configured generator (`synth.generator`, default `mh-gan`) is fitted
on the selected rows only and makes N rows per label twice: through its filter (MH for the
GAN) and without it. Both sets pass through the assemble stage's rules (dedup, synthetic
budget, label balance), are embedded like the pool, and are scored by the probe trained on
the selection plus them. The arms are reported as `<selector>+<generator>` and
`<selector>+<generator>:unfiltered` beside the plain `<selector>`, at the same seeds.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import polars as pl

from curate.bench.evaluators import ProbeEvaluator
from curate.config import Config
from curate.data import Pool
from curate.data.pool import SOURCE
from curate.embed import embed_pool
from curate.errors import CurateError
from curate.store import ArtifactCache
from curate.synth import Services, make_generator
from curate.synth.assemble import assemble

DEFAULT_GENERATOR = "mh-gan"


class Augmenter:
    def __init__(self, cfg: Config, cache: ArtifactCache, pool: Pool, evaluator):
        if not isinstance(evaluator, ProbeEvaluator):
            raise CurateError("bench --synth scores synthetic rows with the probe evaluator",
                              "use --evaluator probe")
        self.cfg = cfg
        self.cache = cache
        self.pool = pool
        self.evaluator = evaluator
        self.generator = cfg.synth.generator or DEFAULT_GENERATOR
        make_generator(self.generator, cfg.synth.params)  # a bad name fails before any work

    def _embed(self, rows: Pool) -> np.ndarray:
        return embed_pool(rows, self.cfg.embed, self.cache).load()

    def arms(self, pool_rows: np.ndarray, seed: int, metric_names: list[str]) -> list[tuple]:
        """(arm, rows, scores, seconds, error) for the filtered and the unfiltered arm."""
        started = time.perf_counter()
        schema = self.pool.schema
        real = Pool(frame=self.pool.frame[pool_rows], schema=schema, origin=self.pool.origin)
        out = []
        try:
            generator = make_generator(self.generator, self.cfg.synth.params).fit(
                real, None, seed, Services(self._embed, Path(self.cfg.output.cache_dir)))
            fitted = time.perf_counter() - started
        except Exception as err:  # a failing fit fails both arms; the bench goes on
            fitted, generator, failure = time.perf_counter() - started, None, err
        for filtered, arm in ((True, self.generator), (False, f"{self.generator}:unfiltered")):
            started = time.perf_counter()
            try:
                if generator is None:
                    raise failure
                synthetic = generator.generate(dict.fromkeys(generator.labels_,
                                                             self.cfg.bench.synth), seed, filtered)
                subset, _ = assemble(real.frame, synthetic, schema, self.cfg.synth.budget,
                                     self.cfg.synth.balance)
                kept = subset.filter(pl.col(SOURCE) != "pool")
                x = self._embed(Pool(frame=kept.select(self.pool.frame.columns), schema=schema,
                                     origin=f"{self.generator} rows"))
                extra = (x, kept[schema.label].cast(pl.Utf8).to_numpy().astype(str))
                scores = self.evaluator.score(pool_rows, seed, extra=extra)
                out.append((arm, len(pool_rows) + kept.height, scores,
                            fitted + time.perf_counter() - started, None))
            except Exception as err:  # a failing arm is a result; the others go on
                out.append((arm, len(pool_rows), dict.fromkeys(metric_names, float("nan")),
                            fitted + time.perf_counter() - started,
                            f"{type(err).__name__}: {err}"))
        return out
