"""report.html: written in every run folder, self-contained, and renders in a browser."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from curate.config_load import parse_config
from curate.report.html import write_html_report
from curate.run import run_curation
from tests.report.browser import assert_renders


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    """A whole-pool kmq run on builtin:digits with a classifier hand-off (a few seconds)."""
    root = tmp_path_factory.mktemp("report")
    cfg = parse_config({
        "data": {"source": "builtin:digits"},
        "cluster": {"k": 16, "niter": 10, "nredo": 1},
        "select": {"selector": "kmq", "budget": 40, "stratify": False},
        "train": {"mode": "classifier"},
        "output": {"dir": str(root / "runs"), "cache_dir": str(root / "cache")},
        "run": {"name": "digits"},
    })
    return run_curation(cfg)


def test_every_run_folder_has_a_self_contained_report(digits_run):
    html = (digits_run / "report.html").read_text()
    sources = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert sources and all(s.startswith("data:") for s in sources)
    assert "http://" not in html and "https://" not in html
    for section in ("Map: pool", "Label mix", "Clusters", "Selected images",
                    "held-out accuracy", "Selected rows"):
        assert section in html, section
    # Whole-pool clusters: the caption counts the clusters that got a selected row.
    assert re.search(r"Whole-pool k-means, 16 clusters: \d+ of them", html)
    # Example rows carry the selector's reason.
    assert "nearest to" in html or "cluster" in html


def test_report_can_be_rebuilt_from_the_run_folder(digits_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(digits_run, copy)
    (copy / "report.html").unlink()
    path = write_html_report(copy)
    assert path == copy / "report.html" and path.stat().st_size > 10_000


def test_a_pruned_cache_leaves_sections_out_with_a_note(digits_run, tmp_path):
    import json

    copy = tmp_path / "run"
    shutil.copytree(digits_run, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    for stage in manifest["stages"].values():
        stage["artifact"] = str(tmp_path / "gone" / "pool.parquet")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    html = write_html_report(copy).read_text()
    assert "pool not found in the cache" in html
    assert "Selected rows" in html


def test_report_renders_in_headless_chromium(digits_run, tmp_path):
    """A non-blank screenshot and no console errors (`make test` installs chromium)."""
    assert_renders(digits_run / "report.html", tmp_path)
