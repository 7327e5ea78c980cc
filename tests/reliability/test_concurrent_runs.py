"""Issue 27, defect 3: two runs of one name on one output dir with different caches overwrote
each other. The lock lived in the cache, run folders were named to the second and the
publish replaced an existing folder: both runs printed the same folder, and one run's
staging cleanup deleted the other's staging folder mid-write. Now the run folder is reserved
exclusively under a lock of the output folder, and a published run is never replaced."""

import json
import os
import subprocess
import sys

import polars as pl

import curate.run

from .helpers import invoke, run_folders, write_config

COMPLETE = {"config.yaml", "manifest.json", "selection.parquet", "handoff.json", "report.md",
            "report.html", "run.log", "subset"}


def _assert_complete(run_dir):
    assert {p.name for p in run_dir.iterdir()} >= COMPLETE, sorted(run_dir.iterdir())
    assert (run_dir / "subset" / "dataset").is_dir()
    assert pl.read_parquet(run_dir / "subset" / "subset.parquet").height == 12
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["run"] == f"{run_dir.parent.name}/{run_dir.name}"


def test_two_runs_of_one_name_with_different_caches_publish_their_own_folders(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    printed = []
    for round_ in range(3):
        folders = [tmp_path / f"{round_}-{i}" for i in range(2)]
        for folder in folders:
            folder.mkdir()
        configs = [write_config(folder, run={"name": "shared"},
                                output={"dir": str(tmp_path / "runs"),
                                        "cache_dir": str(folder / "cache")})
                   for folder in folders]
        runs = [subprocess.Popen([sys.executable, "-m", "curate.cli", "select", str(c)],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for c in configs]
        for process in runs:
            out, err = process.communicate(timeout=300)
            assert process.returncode == 0, err
            printed.append(out.strip().splitlines()[-1])
    assert len(set(printed)) == len(printed) == 6, printed
    folders = run_folders(tmp_path)
    assert sorted(map(str, folders)) == sorted(printed)
    for run_dir in folders:
        _assert_complete(run_dir)
    # No staging folder is left beside the run folders (and the link to the newest).
    assert sorted(p.name for p in (tmp_path / "runs" / "shared").iterdir()) == \
        sorted([*(p.name for p in folders), "latest"])


def test_a_published_run_is_never_replaced(tmp_path, monkeypatch):
    monkeypatch.setattr(curate.run, "run_stamp", lambda: "20240101T000000Z")
    config = write_config(tmp_path, run={"name": "frozen"})
    for _ in range(3):
        code, _out, err = invoke("select", config)
        assert code == 0, err
    names = [p.name for p in run_folders(tmp_path)]
    assert names == ["20240101T000000Z", "20240101T000000Z-1", "20240101T000000Z-2"]
    for run_dir in run_folders(tmp_path):
        _assert_complete(run_dir)


def test_an_empty_folder_of_the_same_name_is_not_a_collision_but_a_file_is(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setattr(curate.run, "run_stamp", lambda: "20240101T000000Z")
    parent = tmp_path / "runs" / "frozen"
    parent.mkdir(parents=True)
    (parent / "20240101T000000Z").write_text("a user's file")
    code, _out, err = invoke("select", write_config(tmp_path, run={"name": "frozen"}))
    assert code == 0, err
    assert (parent / "20240101T000000Z").read_text() == "a user's file"
    _assert_complete(parent / "20240101T000000Z-1")
