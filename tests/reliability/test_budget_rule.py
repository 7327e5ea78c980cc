"""One budget rule for `select` and `bench` (issue 26): a budget with fewer rows than the
pool has labels is run by both, with one warning naming how many labels get no row; auto's
reason states the true rows per label; bench takes `--allow-smaller` as select does."""

from __future__ import annotations

import numpy as np
import polars as pl

from curate.budget import resolve_budget
from curate.progress import capture_log
from curate.selectors import make_selector
from tests.reliability.helpers import invoke, vector_pool, write_config

LABELS = [f"t{i:02d}" for i in range(30)]


def many_labels(tmp_path):
    """300 rows, 30 labels of 10 rows: 5% is 15 rows, half the labels."""
    pool = vector_pool(tmp_path / "pool.parquet", rows=300,
                       labels=[LABELS[i % 30] for i in range(300)])
    return write_config(tmp_path, {"path": str(pool), "vector_column": "vec",
                                   "label_column": "label"},
                        select={"selector": "random", "budget": "5%"})


def test_a_stratified_budget_below_one_per_label_warns_with_the_count():
    labels = np.array([LABELS[i % 30] for i in range(300)])
    with capture_log() as lines:
        budget = resolve_budget("5%", 300, labels, stratify="auto")
    assert budget.total == 15 and len(budget.per_label) == 15
    assert len(budget.empty_labels) == 15
    assert not set(budget.empty_labels) & set(budget.per_label)
    [line] = lines
    assert "WARNING" in line and "15 rows for 30 labels: 15 labels get no row" in line, line
    with capture_log() as lines:
        resolve_budget("5%", 300, labels, stratify="auto", warn=False)
        resolve_budget("1 per label", 300, labels)  # every label gets its row
    assert not lines


def test_an_unstratified_budget_below_the_label_count_warns_too():
    labels = np.array([LABELS[i % 30] for i in range(300)])
    with capture_log() as lines:
        resolve_budget(10, 300, labels, stratify=False)
    [line] = lines
    assert "10 rows for 30 labels: at least 20 labels get no row" in line, line


def test_select_and_bench_agree_and_both_warn(tmp_path):
    config = many_labels(tmp_path)
    code, _, err = invoke("select", config)
    assert code == 0, err
    assert "labels get no row" in err, err
    code, _, err = invoke("bench", config, "--selectors", "random", "--budgets", "5%",
                          "--seeds", "1", "--out", tmp_path / "bench")
    assert code == 0, err  # it refused ("fewer than the 30 labels") where select ran
    assert "labels get no row" in err, err
    assert err.count("labels get no row") == 1, err  # once, not once per split


def test_auto_states_the_true_rows_per_label():
    labels = np.array([LABELS[i % 30] for i in range(300)])
    rng = np.random.default_rng(0)
    from curate.selectors import SelectionView
    x = rng.normal(size=(300, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    view = SelectionView(ids=np.array([f"r{i:03d}" for i in range(300)]), embeddings=x,
                         labels=labels)
    budget = resolve_budget("5%", 300, labels, stratify="auto", warn=False)
    selector = make_selector("auto")
    table = selector.select(view, budget, seed=0)
    assert table.height == 15
    # 15 rows over 30 labels is half a row per label, not "1 rows per label"
    assert "0.5 rows per label" in selector.reason_, selector.reason_
    assert "15 of 30 labels get no row" in selector.reason_, selector.reason_
    assert table["reason"].str.contains("0.5 rows per label", literal=True).all()


def test_bench_takes_allow_smaller_as_select_does(tmp_path):
    pool = vector_pool(tmp_path / "pool.parquet", rows=60)  # 3 labels, 16 train rows each
    config = write_config(tmp_path, {"path": str(pool), "vector_column": "vec",
                                     "label_column": "label"},
                          select={"selector": "random", "budget": "20 per label"})
    code, _, err = invoke("bench", config, "--selectors", "random", "--budgets",
                          "20 per label", "--seeds", "1", "--out", tmp_path / "b")
    assert code == 2 and "--allow-smaller" in err, err
    code, _, err = invoke("bench", config, "--selectors", "random", "--budgets",
                          "20 per label", "--seeds", "1", "--out", tmp_path / "b",
                          "--allow-smaller")
    assert code == 0, err
    results = pl.read_parquet(tmp_path / "b" / "results.parquet")
    runs = results.filter(pl.col("selector") == "random")
    assert runs["error"].is_null().all() and (runs["rows"] < 60).all()
