"""results.html of `curate bench`: a grid of panels per dataset, self-contained, and it
renders in headless Chromium."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import polars as pl
import pytest

from curate.bench.html import panel_grid, results_context, verdict
from curate.bench.report import write_outputs
from curate.bench.summary import summary
from tests.report.browser import assert_renders

BUDGETS = {"1%": 12, "2%": 24, "5%": 60, "5-per-label": 50, "10%": 120, "10-per-label": 100}


def fake_results(datasets=("builtin:digits", "pool.jsonl"), seeds=5) -> pl.DataFrame:
    """Bench-shaped rows: kmq clearly above random, typiclust clearly below, probcover
    within noise; a full-data ceiling and one failed run."""
    rng = np.random.default_rng(0)
    shift = {"random": 0.0, "kmq": 0.05, "typiclust": -0.05, "probcover": 0.0}
    rows = []
    for dataset in datasets:
        for budget, n in BUDGETS.items():
            for seed in range(seeds):
                noise = rng.normal(0, 0.01)  # shared by the seed: paired differences
                for selector, delta in shift.items():
                    for metric in ("accuracy", "macro_f1"):
                        value = 0.6 + 0.002 * n + delta + noise + rng.normal(0, 0.002)
                        rows.append((dataset, selector, budget, n, seed, metric, value, None))
        for metric in ("accuracy", "macro_f1"):
            rows.append((dataset, "full", "all", 600, 0, metric, 0.97, None))
    rows.append((datasets[0], "dealrec", "1%", 12, 0, "accuracy", None, "ValueError: boom"))
    return pl.DataFrame(rows, orient="row", schema={
        "dataset": pl.Utf8, "selector": pl.Utf8, "budget": pl.Utf8, "rows": pl.Int64,
        "seed": pl.Int64, "metric": pl.Utf8, "value": pl.Float64, "error": pl.Utf8})


@pytest.fixture(scope="module")
def results_html(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    return write_outputs(fake_results(), out)["html"]


def test_results_html_is_self_contained_with_a_grid_per_dataset(results_html):
    html = results_html.read_text()
    sources = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert sources and all(s.startswith("data:") for s in sources)
    assert "http://" not in html and "https://" not in html
    for part in ("builtin:digits", "pool.jsonl", "accuracy", "macro_f1", "Failed runs",
                 "ValueError: boom", "all train rows", "97.0", "every subset scores below it"):
        assert part in html, part
    # one grid image per dataset and metric
    assert len(re.findall(r'<img src="data:image/png', html)) == 4


def test_verdicts_follow_the_paired_interval_and_the_metric_direction():
    table = summary(fake_results(datasets=("d",)))
    verdicts = {(r["selector"], r["budget"]): verdict(r, 1)
                for r in table.filter(pl.col("metric") == "accuracy").iter_rows(named=True)}
    assert {verdicts[("kmq", b)] for b in BUDGETS} == {"better"}
    assert {verdicts[("typiclust", b)] for b in BUDGETS} == {"worse"}
    assert {verdicts[("random", b)] for b in BUDGETS} == {"baseline"}
    row = table.filter((pl.col("selector") == "kmq") & (pl.col("budget") == "1%")).row(
        0, named=True)
    assert verdict(row, -1) == "worse"  # lower-is-better metrics (tv_distance, ot_cost)
    assert verdict({**row, "ci95": float("nan")}, 1) == "unclear"  # one seed


def test_panels_wrap_into_a_grid_not_one_long_row():
    from PIL import Image

    table = summary(fake_results(datasets=("d",))).filter(pl.col("metric") == "accuracy")

    def size(budgets):
        uri = panel_grid(table.filter(pl.col("budget").is_in(budgets)), "accuracy")
        return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).size

    three, six = size(["1%", "2%", "5%"]), size(list(BUDGETS))
    assert six[0] <= 1.4 * three[0] * 4 / 3  # at most four panels a row
    assert six[1] > 1.6 * three[1]  # a second row
    context = results_context(fake_results(datasets=("d",)))
    budgets = [r["budget"] for r in context["datasets"][0]["metrics"][0]["rows"]]
    # by rows, all train rows last
    assert list(dict.fromkeys(budgets)) == [*sorted(BUDGETS, key=BUDGETS.get), "all"]


def test_results_html_renders_in_headless_chromium(results_html, tmp_path):
    assert_renders(results_html, tmp_path)


def test_a_ceiling_fitted_on_each_split_is_their_mean(tmp_path):
    """bench.resplit fits all train rows once per seed: the pages show its mean over them
    (in points, and never called a ceiling: issue 26)."""
    results = fake_results(datasets=("d",)).filter(pl.col("selector") != "full")
    ceiling = pl.DataFrame([("d", "full", "all", 600, seed, metric, value, None)
                            for seed, value in enumerate((0.96, 0.97, 0.98))
                            for metric in ("accuracy", "macro_f1")],
                           orient="row", schema=results.schema)
    paths = write_outputs(pl.concat([results, ceiling]), tmp_path)
    assert "97.0 (mean over 3 splits)" in paths["html"].read_text()
    assert "| all train rows | all | 600 | 97.0 ± 1.0 | | 3 |" in (
        paths["markdown"].read_text())
