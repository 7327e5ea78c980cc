"""One path rule (issue 26): every relative path in a config file is relative to the file's
folder, so a config run from another working directory finds its pool, cache and runs;
`runs/<name>/latest` names the newest run; `run.keep_last` retention; a rerun that would
repeat the newest run is recognised (`unchanged_since`, which `curate serve` uses)."""

from __future__ import annotations

import json
import os

import polars as pl
import yaml

from curate.config_load import load_config
from curate.run import published_runs, unchanged_since
from tests.reliability.helpers import invoke, vector_pool


def _project(tmp_path, **run):
    """A demo-like layout: configs/ beside the pool; runs and cache named relative to the
    config file, as configs/demo.yaml does."""
    project = tmp_path / "project"
    (project / "configs").mkdir(parents=True)
    vector_pool(project / "pool.parquet")
    config = project / "configs" / "demo.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"path": "../pool.parquet", "vector_column": "vec", "label_column": "label"},
        "cluster": {"k": 3, "niter": 5, "nredo": 1},
        "select": {"selector": "kmq", "budget": 12},
        "output": {"dir": "../runs", "cache_dir": "../.curate-cache"},
        "run": {"name": "demo", **run}}))
    return project, config


def _select(config, *args):
    code, out, err = invoke("select", config, *args)
    assert code == 0, err
    return out.strip().splitlines()[-1]


def test_a_config_run_from_another_folder_reuses_its_cache(tmp_path, monkeypatch):
    project, config = _project(tmp_path)
    monkeypatch.chdir(project)
    first = _select("configs/demo.yaml")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    second = _select(config)
    assert not list(elsewhere.iterdir())  # no runs/ or .curate-cache/ in the shell's folder
    runs = published_runs(project / "runs" / "demo")
    assert [str(r) for r in runs] == [first, second]
    manifest = json.loads((runs[1] / "manifest.json").read_text())
    assert manifest["cache_hits"], {k: v["cache_hit"] for k, v in manifest["stages"].items()}
    assert pl.read_parquet(runs[0] / "selection.parquet")["id"].to_list() == \
        pl.read_parquet(runs[1] / "selection.parquet")["id"].to_list()


def test_a_path_given_with_set_is_relative_to_the_shell(tmp_path, monkeypatch):
    project, config = _project(tmp_path)
    monkeypatch.chdir(tmp_path)
    cfg = load_config(config, overrides=["output.dir=mine", "data.path=project/pool.parquet"])
    assert cfg.output.dir == tmp_path / "mine"
    assert cfg.data.path == project / "pool.parquet"
    assert cfg.output.cache_dir == project / ".curate-cache"


def test_latest_names_the_newest_run(tmp_path):
    project, config = _project(tmp_path)
    first, second = _select(config), _select(config)
    latest = project / "runs" / "demo" / "latest"
    assert latest.is_symlink() and os.readlink(latest) == os.path.basename(second)
    assert latest.resolve() == project / "runs" / "demo" / os.path.basename(second)
    assert first != second
    code, _out, err = invoke("report", latest)  # a run folder like any other
    assert code == 0, err


def test_keep_last_deletes_only_older_runs_curate_wrote(tmp_path):
    project, config = _project(tmp_path, keep_last=2)
    parent = project / "runs" / "demo"
    parent.mkdir(parents=True)
    # look like run folders, but curate did not write them: never touched
    (parent / "20000101T000000Z").mkdir()
    (parent / "20000101T000001Z").mkdir()
    (parent / "20000101T000001Z" / "manifest.json").write_text('{"run": "other/x"}')
    (parent / "notes.txt").write_text("mine")
    made = [_select(config) for _ in range(3)]
    assert [str(r) for r in published_runs(parent)] == made[1:]
    assert sorted(p.name for p in parent.iterdir()) == sorted(
        ["20000101T000000Z", "20000101T000001Z", "notes.txt", "latest",
         *(os.path.basename(m) for m in made[1:])])
    assert (parent / "latest").resolve() == parent / os.path.basename(made[-1])


def test_unchanged_means_same_config_pool_content_and_seed(tmp_path):
    project, config = _project(tmp_path)
    cfg = load_config(config)
    assert unchanged_since(cfg) is None  # no run yet
    run_dir = _select(config)
    assert str(unchanged_since(cfg)) == run_dir
    assert unchanged_since(load_config(config, overrides=["run.seed=1"])) is None
    assert unchanged_since(load_config(config, overrides=["select.budget=11"])) is None
    # the same size and modification time, other content: changed
    pool = project / "pool.parquet"
    stat = pool.stat()
    vector_pool(pool, seed=1)
    os.utime(pool, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert pool.stat().st_size == stat.st_size
    assert unchanged_since(cfg) is None


def test_the_reports_rebuild_command_works_as_printed(tmp_path, monkeypatch):
    import re
    import shlex

    project, config = _project(tmp_path)
    run_dir = _select(config)
    html = (project / "runs" / "demo" / os.path.basename(run_dir) / "report.html").read_text()
    command = re.search(r"<code>curate report ([^<]+)</code>", html).group(1)
    monkeypatch.chdir(tmp_path)
    code, _out, err = invoke("report", *shlex.split(command.replace("&#39;", "'")))
    assert code == 0, err
