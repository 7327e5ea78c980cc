"""Quiet runs (issue 26): no third-party warning where curate can avoid its cause.

- auto's validation fitted its probe on candidates with most labels on one row, and
  scikit-learn warned ("The number of unique classes is greater than 50% of the number of
  samples") once per candidate: too few rows per label to tell the candidates apart. auto
  now keeps its first candidate there and says why in the reason.
- onnxruntime's quantizer: tests/embed/test_int8_quiet.py (it needs the tiny encoder).
"""

from __future__ import annotations

import warnings

import numpy as np

from curate.budget import resolve_budget
from curate.selectors import SelectionView, make_selector
from tests.conftest import unit_rows


def many_labels_view(rows=600, labels=60):
    rng = np.random.default_rng(0)
    y = np.array([f"t{i % labels:02d}" for i in range(rows)])
    centres = rng.normal(size=(labels, 16))
    x = unit_rows(centres[np.arange(rows) % labels] + rng.normal(scale=0.5, size=(rows, 16)))
    return SelectionView(ids=np.array([f"r{i:04d}" for i in range(rows)]), embeddings=x,
                         labels=y)


def test_auto_does_not_fit_its_probe_on_one_row_per_label():
    view = many_labels_view()
    budget = resolve_budget("5%", len(view), view.labels, stratify="auto", warn=False)
    selector = make_selector("auto")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = selector.select(view, budget, seed=0)
    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if "unique classes" in m], messages
    assert table.height == 30 and selector.choice_ == "kmeans-nearest"
    assert "not validated: " in selector.reason_ and "per label" in selector.reason_
    assert table["reason"].str.contains("not validated: ", literal=True).all()


def test_auto_still_validates_with_rows_to_spare():
    view = many_labels_view(rows=600, labels=6)
    budget = resolve_budget("5%", len(view), view.labels, stratify="auto", warn=False)
    selector = make_selector("auto")
    selector.select(view, budget, seed=0)
    assert "validated on" in selector.reason_


def test_bench_cells_under_two_rows_per_label_are_quiet(tmp_path):
    """The bench probe on 1 row per label is the experiment asked for: scikit-learn's
    regression-target heuristic is not shown per cell (the budget warning said it once)."""
    from tests.reliability.helpers import vector_pool, write_config

    pool = vector_pool(tmp_path / "pool.parquet", rows=400,
                       labels=[f"t{i % 40:02d}" for i in range(400)])
    config = write_config(tmp_path, {"path": str(pool), "vector_column": "vec",
                                     "label_column": "label"})
    from curate.bench import run_benchmark
    from curate.config_load import load_config
    from curate.store import ArtifactCache

    cfg = load_config(config, False, ("bench.selectors=[random]", "bench.budgets=['1 per label']",
                                      "bench.seeds=1"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = run_benchmark(cfg, ArtifactCache(cfg.output.cache_dir))
    assert results["error"].is_null().all()
    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if "unique classes" in m], messages
