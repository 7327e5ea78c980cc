"""What `curate bench` says about its results (issue 26): where results.html went, points
(x100) for fractions as everywhere else, the full train set never called a ceiling when a
subset beats it (on foldoc, 107 uneven labels: macro-F1 0.33 on all 2,564 train rows, 0.36
and 0.39 for auto at 5 and 10 per label, which even the labels out), and what auto chose
per seed."""

from __future__ import annotations

import re

import polars as pl

from curate.bench.report import write_outputs
from tests.reliability.helpers import invoke, vector_pool, write_config


def bench(tmp_path, *args):
    pool = vector_pool(tmp_path / "pool.parquet", rows=240)
    config = write_config(tmp_path, {"path": str(pool), "vector_column": "vec",
                                     "label_column": "label"})
    return invoke("bench", config, "--out", tmp_path / "out", *args)


def test_bench_says_where_its_pages_went_and_shows_points(tmp_path):
    code, _, err = bench(tmp_path, "--selectors", "random,kmeans-nearest", "--budgets",
                         "5%", "--seeds", "2")
    assert code == 0, err
    assert str(tmp_path / "out" / "results.html") in err.replace("\n", ""), err
    md = (tmp_path / "out" / "results.md").read_text()
    assert ": accuracy (points, higher is better)" in md, md
    results = pl.read_parquet(tmp_path / "out" / "results.parquet")
    mean = results.filter(pl.col("selector") == "random", pl.col("metric") == "accuracy"
                          )["value"].mean()
    assert 0 < mean <= 1  # the parquet keeps fractions
    row = next(line for line in md.splitlines() if line.startswith("| random | 5% |"))
    assert f"| {100 * mean:.1f} ± " in row, row  # the page shows points, one decimal
    assert not re.search(r"\b0\.\d{4}\b", md), md  # no fraction left on the page


def test_a_subset_above_all_train_rows_is_not_called_a_ceiling(tmp_path):
    rows = []
    for seed in range(3):
        for selector, f1 in (("random", 0.33), ("auto", 0.40)):
            rows.append(("d", selector, "10 per label", 640, seed, "macro_f1", f1 + seed / 100,
                         None))
        rows.append(("d", "full", "all", 2564, seed, "macro_f1", 0.33, None))
    results = pl.DataFrame(rows, orient="row", schema={
        "dataset": pl.Utf8, "selector": pl.Utf8, "budget": pl.Utf8, "rows": pl.Int64,
        "seed": pl.Int64, "metric": pl.Utf8, "value": pl.Float64, "error": pl.Utf8})
    paths = write_outputs(results, tmp_path)
    md, html = paths["markdown"].read_text(), paths["html"].read_text()
    for page in (md, html):
        assert "ceiling" not in page.replace("not a ceiling", ""), page
        assert "all train rows" in page and "not a ceiling here" in page
        assert "auto at 10 per label, 41.0" in page  # the best subset, in points


def test_what_auto_chose_per_seed_is_in_the_pages(tmp_path):
    code, _, err = bench(tmp_path, "--selectors", "random,auto", "--budgets", "5%",
                         "--seeds", "2")
    assert code == 0, err
    results = pl.read_parquet(tmp_path / "out" / "results.parquet")
    auto = results.filter(pl.col("selector") == "auto")
    assert auto["choice"].is_in(["kmeans-nearest", "typiclust"]).all(), auto
    assert results.filter(pl.col("selector") == "random")["choice"].is_null().all()
    md = (tmp_path / "out" / "results.md").read_text()
    assert "## What auto chose" in md, md
    per_seed = {seed: choice for seed, choice in auto.select("seed", "choice").unique().rows()}
    for seed, choice in per_seed.items():
        assert re.search(rf"{choice} \(seeds? [0-9, ]*{seed}", md), md
    assert "auto (chose " in (tmp_path / "out" / "results.html").read_text()
