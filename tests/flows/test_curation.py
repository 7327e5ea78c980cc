"""The Prefect flow end to end, on Prefect's embedded local server (PREFECT_HOME is a temp dir)."""

import json
import subprocess
import sys

import polars as pl
import pytest
import yaml

from curate.run import published_runs


def curate(*args):
    """The real command line in a child process, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "curate.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_curate_run_under_prefect_twice(tmp_path, glosses_jsonl):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"path": str(glosses_jsonl), "id_column": "uid", "text_column": "gloss",
                 "label_column": "topic"},
        "cluster": {"k": 10, "niter": 20, "nredo": 1},
        "select": {"selector": "kmq", "budget": "3 per label"},
        "output": {"dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache")},
        "run": {"name": "flow-test", "seed": 7}}))
    first = curate("run", config)
    assert first.returncode == 0, first.stderr
    second = curate("run", config)
    assert second.returncode == 0, second.stderr
    run_dirs = published_runs(tmp_path / "runs" / "flow-test")
    assert [str(d) for d in run_dirs] == [first.stdout.strip(), second.stdout.strip()]
    manifests = [json.loads((d / "manifest.json").read_text()) for d in run_dirs]
    assert not manifests[0]["cache_hits"] and manifests[1]["cache_hits"]
    assert manifests[1]["budget"]["per_label"] == {"noun.animal": 3, "noun.food": 3,
                                                    "verb.motion": 3}
    selections = [pl.read_parquet(d / "selection.parquet") for d in run_dirs]
    assert selections[0].equals(selections[1]) and selections[0].height == 9
    resolved = yaml.safe_load((run_dirs[0] / "config.yaml").read_text())
    assert resolved["run"]["seed"] == 7 and resolved["embed"]["model"] == "builtin:minilm"


@pytest.mark.slow
def test_curate_run_reports_bad_input_in_one_line(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"data": {"source": "builtin:digits"},
                                      "select": {"budget": 5000},
                                      "output": {"dir": str(tmp_path / "runs"),
                                                 "cache_dir": str(tmp_path / "cache")}}))
    result = curate("run", config)
    assert result.returncode == 2
    # Prefect logs the failed task run itself; curate's own report is one line.
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: budget 5000 is larger than the pool")
    assert not (tmp_path / "runs").exists()
