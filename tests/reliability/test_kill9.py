"""Issue 11: `kill -9` at each stage boundary. `curate select` runs in a subprocess whose
stage function (or run-folder step) SIGKILLs the process right after it returns; then no run
folder is published, and a rerun finishes and selects the same ids as a clean run, leaving
no staging leftovers beside the run folder."""

import os
import signal
import subprocess
import sys
import textwrap

import polars as pl
import pytest

import curate.run

from .helpers import invoke, run_folders, write_config

# The functions `curate.run` calls, in order: stages, then the steps writing the run folder
# (inside its staging folder).
BOUNDARIES = [name for name in ("load_stage", "dedup_stage", "embed_stage", "cluster_stage",
                                 "select_stage", "assemble_stage", "write_run_folder",
                                 "projection_stage", "hand_off", "write_html_report")
              if hasattr(curate.run, name)]

DRIVER = textwrap.dedent("""
    import os, signal, sys
    import curate.run as run

    name, config = sys.argv[1], sys.argv[2]
    original = getattr(run, name)

    def then_die(*args, **kwargs):
        original(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)

    setattr(run, name, then_die)
    from curate.cli import app
    app(["select", config])
""")

# kmq, unstratified: a whole-pool clustering, so the cluster stage runs too.
SELECT = {"selector": "kmq", "budget": 12, "stratify": False}


def _ids(run_dir) -> list[str]:
    return sorted(pl.read_parquet(run_dir / "selection.parquet")["id"].to_list())


@pytest.fixture(scope="module")
def clean_ids(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("clean")
    code, _out, err = invoke("select", write_config(tmp, select=SELECT))
    assert code == 0, err
    return _ids(run_folders(tmp)[0])


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_kill_9_after_a_stage_then_rerun(tmp_path, clean_ids, boundary):
    config = write_config(tmp_path, select=SELECT)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    killed = subprocess.run([sys.executable, "-c", DRIVER, boundary, str(config)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not run_folders(tmp_path)  # nothing published

    code, _out, err = invoke("select", config)
    assert code == 0, err
    (run_dir,) = run_folders(tmp_path)
    assert _ids(run_dir) == clean_ids
    assert {"handoff.json", "report.md", "manifest.json"} <= {p.name for p in run_dir.iterdir()}
    # The killed run's staging folder is gone: the run folder's parent holds only the run
    # folder and the link to the newest run.
    assert {p.name for p in run_dir.parent.iterdir()} == {run_dir.name, "latest"}
