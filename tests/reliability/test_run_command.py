"""Defect 5: `curate run` printed two full Prefect tracebacks (~80 lines) before the one-line
error for a CurateError inside a stage. Under `curate run` a user or environment error reads
like one: Prefect's progress lines, then curate's single error line; `--debug` shows more."""

import os
import subprocess
import sys

import pytest

from .helpers import write_config


def curate(tmp_path, *args):
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "CURATE_PROGRESS": "0"}
    return subprocess.run([sys.executable, "-m", "curate.cli", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=300)


def assert_reads_like_one_error(result, fragment):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "CurateError" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith("error: "), result.stderr
    assert fragment in errors[0]


@pytest.mark.slow
def test_a_stage_error_under_curate_run_is_one_line(tmp_path):
    config = write_config(tmp_path, select={"selector": "random", "budget": 500})
    result = curate(tmp_path, "run", config)
    assert_reads_like_one_error(result, "budget 500 is larger than the pool")
    assert not (tmp_path / "runs").exists()
    debug = curate(tmp_path, "run", config, "--debug")
    assert debug.returncode == 2 and "Traceback" in debug.stderr


@pytest.mark.slow
def test_an_environment_fault_under_curate_run_is_one_line(tmp_path):
    out = tmp_path / "a-file"
    out.write_text("not a folder")
    result = curate(tmp_path, "run", write_config(tmp_path), "--out", out)
    assert_reads_like_one_error(result, str(out))
    assert out.read_text() == "not a folder"
