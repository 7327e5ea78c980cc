"""report.html answers "should I trust this subset?" (issue 26): better than random, in
points; what it left out; real clusters; readable stages; a map that hovers."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from curate.config_load import parse_config
from curate.report.artifacts import RunArtifacts
from curate.report.compare import coverage, versus_random
from curate.report.html import build_context, write_html_report
from curate.report.stages import stage_text
from curate.run import run_curation
from tests.report.browser import hover_first_selected_dot


@pytest.fixture(scope="module")
def per_label_run(tmp_path_factory) -> Path:
    """kmeans-nearest inside each label of builtin:digits: 6 rows a label, no whole-pool
    clustering (the case whose examples all read `cluster 0`)."""
    root = tmp_path_factory.mktemp("answers")
    return run_curation(parse_config({
        "data": {"source": "builtin:digits"},
        "select": {"selector": "kmeans-nearest", "budget": 60},
        "output": {"dir": str(root / "runs"), "cache_dir": str(root / "cache")},
        "run": {"name": "per-label"}}))


def test_vs_random_panel_in_points(per_label_run):
    context = build_context(per_label_run)
    versus = context["versus"]
    assert "why_not" not in versus, versus
    for metric in ("accuracy", "macro_f1"):
        figures = versus[metric]
        assert 1 < figures["selected"] <= 100 and 1 < figures["random"] <= 100  # points
        assert figures["low"] <= figures["random"] <= figures["high"]
        assert figures["lead"] == pytest.approx(figures["selected"] - figures["random"])
    assert versus["rows"] == 60 and versus["held_out"] > 100
    html = (per_label_run / "report.html").read_text()
    assert "Better than random?" in html and "difference, points" in html


def test_examples_show_whole_pool_clusters_and_their_sizes(per_label_run):
    context = build_context(per_label_run)
    clusters = [row["cluster"] for row in context["selected"]]
    assert all(re.fullmatch(r"\d+ \(\d[\d,]* rows\)", c) for c in clusters), clusters
    assert len(set(clusters)) > 1
    assert "fitted for this report" in context["clustering"]


def test_stages_read_as_words(per_label_run):
    html = (per_label_run / "report.html").read_text()
    table = html[html.index("<h2 style=\"margin-top:12px\">Stages"):]
    table = table[:table.index("</table>")]
    assert "{" not in table and "rows embedded" in table and "rows_new" not in table
    assert stage_text({"rows_dropped": {"no_label": 1529, "empty_text": 3}, "seconds": 1,
                       "rows_in": 3471}) == \
        "dropped: 1,529 no label, 3 empty text; 3,471 rows in"
    assert "embedding model" in html and "none: the data's own vectors" not in html


def test_map_hover_shows_text_and_reason(per_label_run, tmp_path):
    html = (per_label_run / "report.html").read_text()
    assert "<svg id=\"map\"" in html and "http" not in html.split("map-data", 1)[1]
    tip, errors = hover_first_selected_dot(per_label_run / "report.html", tmp_path)
    assert not errors, errors
    assert tip.startswith("selected · ") and "why: " in tip


def test_funnel_line_and_warnings_are_shown(per_label_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(per_label_run, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["funnel"] = {"line": "5,000 read -> 3,471 labelled -> 69 selected",
                          "warnings": ["1,529 rows (31%) were dropped: no label"]}
    (copy / "manifest.json").write_text(json.dumps(manifest))
    html = write_html_report(copy).read_text()
    assert "5,000 read -&gt; 3,471 labelled -&gt; 69 selected" in html
    assert '<p class="warning">1,529 rows (31%) were dropped: no label</p>' in html


class Vectors:
    def __init__(self, x: np.ndarray):
        self.x, self.rows, self.dim = x, len(x), x.shape[1]

    def load_rows(self, rows: np.ndarray) -> np.ndarray:
        return self.x[rows]


def artifacts(labels: list[str] | None, chosen: list[int], x: np.ndarray) -> RunArtifacts:
    ids = [f"r{i:03d}" for i in range(len(x))]
    frame = pl.DataFrame({"id": ids, **({"label": labels} if labels else {})})
    selection = pl.DataFrame({"id": [ids[i] for i in chosen]})
    return RunArtifacts(Path("."), {}, selection, pool=frame,
                        schema={"label": "label"} if labels else {}, embeddings=Vectors(x))


def test_coverage_lists_every_empty_label_and_cluster():
    labels = ["a"] * 10 + ["b"] * 6 + ["c"] * 4
    art = artifacts(labels, [0, 1], np.zeros((20, 2)))
    clusters = np.array([0] * 8 + [1] * 7 + [2] * 5)
    found = coverage(art, clusters)
    assert found["labels"]["listed"] == [("b", 6), ("c", 4)]  # not summed into "other"
    assert found["labels"]["empty"] == 2 and found["labels"]["of"] == 3
    assert found["clusters"]["listed"] == [("1", 7), ("2", 5)]


def test_vs_random_says_why_not_without_labels_or_with_a_thin_subset():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    assert versus_random(artifacts(None, [0, 1], x), 0) == {
        "why_not": "the pool has no labels, so no probe can score a subset"}
    labels = [str(i % 40) for i in range(200)]
    thin = versus_random(artifacts(labels, list(range(40)), x), 0)  # one row a label
    assert thin["why_not"].startswith("the subset has 40 rows over 40 labels")


def test_vs_random_draws_are_seeded_and_keep_the_label_counts():
    rng = np.random.default_rng(0)
    labels = ["ab"[i % 2] for i in range(300)]
    x = rng.normal(size=(300, 4)) + np.array([[3.0, 0, 0, 0] if c == "a" else [0] * 4
                                              for c in labels])
    art = artifacts(labels, list(range(40)), x)
    first, again = versus_random(art, 3), versus_random(art, 3)
    assert first == again
    assert first["accuracy"]["selected"] > 80  # separable labels: the probe learns them
