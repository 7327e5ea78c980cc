"""Two runs of the same config never overlap: the second waits, or fails in one line."""

import subprocess
import sys
import threading
import time

import numpy as np
import polars as pl
import pytest
import yaml

import curate.run
from curate.config_load import parse_config
from curate.errors import CurateError
from curate.lock import lock_path, run_lock

# Holds the lock of a run name until the file `release` appears, then notes when it let go.
HOLDER = """
import sys, time
from pathlib import Path
from curate.lock import run_lock
cache, name, release, released = sys.argv[1:]
with run_lock(Path(cache), name, 0):
    print("held", flush=True)
    while not Path(release).exists():
        time.sleep(0.05)
    Path(released).write_text(repr(time.time()))
"""


@pytest.fixture
def raw_config(tmp_path):
    rng = np.random.default_rng(0)
    pool = tmp_path / "pool.parquet"
    pl.DataFrame({"vec": rng.normal(size=(40, 8)).tolist(),
                  "label": ["a", "b"] * 20}).write_parquet(pool)
    return {"data": {"path": str(pool), "vector_column": "vec", "label_column": "label"},
            "select": {"selector": "random", "budget": 6},
            "output": {"dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache")},
            "run": {"name": "locked", "lock_timeout": 0.5}}


@pytest.fixture
def holder(tmp_path):
    """A second process holding the lock of the run name 'locked'."""
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "cache"), "locked",
                                str(tmp_path / "release"), str(tmp_path / "released")],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    yield process
    (tmp_path / "release").touch()
    process.wait(30)


def test_second_run_fails_in_one_line_naming_the_lock(tmp_path, raw_config, holder):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(raw_config))
    result = subprocess.run([sys.executable, "-m", "curate.cli", "select", str(config)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    path = lock_path(tmp_path / "cache", "locked")
    assert errors == [f"error: another run of 'locked' still holds {path} after 0.5 s; wait for "
                      "it to finish, or raise run.lock_timeout (the lock goes away with the "
                      "process that holds it)"]
    assert not (tmp_path / "runs").exists()


def test_second_run_waits_for_the_first(tmp_path, raw_config, holder, monkeypatch):
    raw_config["run"]["lock_timeout"] = 60
    started = []
    original = curate.run._run_stages
    monkeypatch.setattr(curate.run, "_run_stages",
                        lambda *args: started.append(time.time()) or original(*args))
    threading.Timer(1.0, (tmp_path / "release").touch).start()
    run_dir = curate.run.run_curation(parse_config(raw_config))
    released = float((tmp_path / "released").read_text())
    assert started[0] >= released
    assert pl.read_parquet(run_dir / "selection.parquet").height == 6


def test_other_run_names_do_not_wait(tmp_path, holder):
    with run_lock(tmp_path / "cache", "another", 0) as path:
        assert path == lock_path(tmp_path / "cache", "another")
    with pytest.raises(CurateError, match="still holds"), \
            run_lock(tmp_path / "cache", "locked", 0):
        pass
