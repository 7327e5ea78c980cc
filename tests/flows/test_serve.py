"""`curate serve`: a cron deployment served against a local Prefect server it starts and stops."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest
import yaml

from curate.errors import CurateError
from curate.flows.serve import _cron_schedule, api_server


def _config(tmp_path, glosses_jsonl, name="serve-test"):
    pool = tmp_path / "small.jsonl"
    pool.write_text("".join(glosses_jsonl.read_text().splitlines(keepends=True)[::5]))
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"path": str(pool), "id_column": "uid", "text_column": "gloss",
                 "label_column": "topic"},
        "cluster": {"k": 4, "niter": 5, "nredo": 1},
        "select": {"selector": "kmq", "budget": "2 per label"},
        "output": {"dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache")},
        "run": {"name": name, "seed": 3}}))
    return config


def test_bad_cron_is_one_line_error(tmp_path, glosses_jsonl):
    with pytest.raises(CurateError, match="is not a valid cron expression"):
        _cron_schedule("every night")
    result = subprocess.run([sys.executable, "-m", "curate.cli", "serve",
                             _config(tmp_path, glosses_jsonl), "--cron", "61 * * * *"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --cron '61 * * * *' is not a valid cron expression; use five fields, "
        "e.g. \"0 3 * * *\" for 03:00 every day"]


def test_configured_api_url_starts_no_server(tmp_path, monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: "http://example.invalid:4200/api"}), \
            api_server(tmp_path / "home") as url:
        assert url == "http://example.invalid:4200/api"
    assert not (tmp_path / "home").exists()


def _alive(proc_key) -> bool:
    pid, created = proc_key
    try:
        process = psutil.Process(pid)
        return process.create_time() == created and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _completed_scheduled_runs(log) -> list[dict]:
    """Scheduled flow runs the served API reports as completed ([] before it answers)."""
    lines = [line for line in log.read_text().splitlines() if line.startswith("Prefect API:")]
    if not lines:
        return []
    request = urllib.request.Request(f"{lines[0].split()[-1]}/flow_runs/filter", data=b"{}",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return [run for run in json.loads(response.read())
                if run["auto_scheduled"] and run["state_type"] == "COMPLETED"]


@pytest.mark.slow
def test_serve_runs_on_schedule_and_stops_everything(tmp_path, glosses_jsonl):
    config = _config(tmp_path, glosses_jsonl)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), CURATE_PROGRESS="0")
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        serve = subprocess.Popen([sys.executable, "-m", "curate.cli", "serve", str(config),
                                  "--cron", "* * * * *"], env=env, stdout=out,
                                 stderr=subprocess.STDOUT)
    root = psutil.Process(serve.pid)
    started = {(serve.pid, root.create_time()): "curate serve"}
    try:
        deadline = time.monotonic() + 170  # server start, the next minute, one run
        while not _completed_scheduled_runs(log):
            assert serve.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            for child in root.children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    started[child.pid, child.create_time()] = " ".join(child.cmdline())
            time.sleep(0.5)
        (run_dir,) = (tmp_path / "runs" / "serve-test").iterdir()
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert manifest["subset"]["rows"] == 6
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(60)
    assert any("prefect server start" in command for command in started.values())
    deadline = time.monotonic() + 30
    while any(map(_alive, started)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not [pid for pid, _ in filter(_alive, started)]
