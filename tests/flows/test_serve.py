"""`curate serve`: a cron deployment served against a local Prefect server it starts and stops."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import psutil
import pytest
import yaml

from curate.errors import CurateError
from curate.flows.serve import _cron_schedule, api_server
from curate.run import published_runs


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
        (run_dir,) = published_runs(tmp_path / "runs" / "serve-test")
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


def _api(url: str, path: str, body: dict | None = None):
    request = urllib.request.Request(f"{url}{path}", method="POST" if body is not None else "GET",
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    for attempt in range(5):  # a busy server may answer 503 for a moment
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as err:
            if err.code != 503 or attempt == 4:
                raise
            time.sleep(2)


def _chromium_dom(url: str) -> str:
    return subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                           "--window-size=1400,1000", "--virtual-time-budget=20000",
                           "--dump-dom", url], capture_output=True, text=True, timeout=180).stdout


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
def test_serve_ui_link_shows_the_deployments_runs(tmp_path, glosses_jsonl):
    """The UI of the server `curate serve` starts calls that server's API (not port 4200),
    its deployment page lists the deployment's runs in Chromium, and `curate run` with the
    same cache reports to that server instead of starting one."""
    config = _config(tmp_path, glosses_jsonl, name="ui-test")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), CURATE_PROGRESS="0",
               PREFECT_RUNNER_POLL_FREQUENCY="2")
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        serve = subprocess.Popen([sys.executable, "-m", "curate.cli", "serve", str(config),
                                  "--cron", "0 0 1 1 *"], env=env, stdout=out,
                                 stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while "/deployments/deployment/" not in log.read_text():
            assert serve.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        lines = log.read_text().splitlines()
        api_url = next(line.split()[-1] for line in lines if line.startswith("Prefect API:"))
        ui_link = next(line.split()[-1] for line in lines if "/deployments/deployment/" in line)
        base = api_url.removesuffix("/api")
        assert ui_link.startswith(base + "/")
        assert _api(base, "/ui-settings")["api_url"] == api_url

        deployment = ui_link.rsplit("/", 1)[-1]
        triggered = _api(api_url, f"/deployments/{deployment}/create_flow_run", {})
        # `curate run` meanwhile reports to the served server (recorded for the cache)
        result = subprocess.run([sys.executable, "-m", "curate.cli", "run", str(config)],
                                env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        assert "Starting temporary server" not in result.stderr
        assert f"View at {base}/runs/flow-run/" in result.stderr
        while _api(api_url, f"/flow_runs/{triggered['id']}")["state_type"] != "COMPLETED":
            assert serve.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(1)
        runs = _api(api_url, "/flow_runs/filter", {})
        assert len([run for run in runs if run["state_type"] == "COMPLETED"]) == 2

        for _ in range(4):  # the page loads its runs after the first paint; allow a slow box
            dom = _chromium_dom(ui_link)
            if triggered["name"] in dom:
                break
        assert "Can't connect to Server API" not in dom
        assert triggered["name"] in dom and "ui-test" in dom
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(60)


def _hint(log) -> list[str]:
    """The commands `curate serve` prints for running the deployment from another terminal."""
    lines = log.read_text().splitlines()
    if not any(line.startswith("To run it now from another terminal:") for line in lines):
        return []
    start = next(i for i, line in enumerate(lines) if line.startswith("To run it now"))
    return [line.strip() for line in lines[start + 1:start + 3]]


@pytest.mark.slow
def test_serve_hint_works_as_printed_and_an_unchanged_pool_writes_no_run(tmp_path,
                                                                         glosses_jsonl):
    """The printed commands, pasted into a shell that knows no Prefect server, start the
    deployment; `--set` reaches the scheduled runs; a second run of the same config and pool
    ends Unchanged and writes no run folder."""
    config = _config(tmp_path, glosses_jsonl, name="hint-test")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), CURATE_PROGRESS="0",
               PREFECT_RUNNER_POLL_FREQUENCY="2")
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        serve = subprocess.Popen([sys.executable, "-m", "curate.cli", "serve", str(config),
                                  "--cron", "0 0 1 1 *", "--set", "run.seed=5"], env=env,
                                 stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while not _hint(log) or "/deployments/deployment/" not in log.read_text():
            assert serve.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        api_url = next(line.split()[-1] for line in log.read_text().splitlines()
                       if line.startswith("Prefect API:"))
        other_terminal = {**env, "PREFECT_HOME": str(tmp_path / "other-home")}
        states = []
        for _ in range(2):
            pasted = subprocess.run(["bash", "-c", "\n".join(_hint(log))], env=other_terminal,
                                    capture_output=True, text=True, timeout=120)
            assert pasted.returncode == 0, pasted.stdout + pasted.stderr
            run_id = next(word for line in pasted.stdout.splitlines() if "UUID" in line
                          for word in line.split() if word.count("-") == 4)
            while (state := _api(api_url, f"/flow_runs/{run_id}")["state"])["type"] \
                    != "COMPLETED":
                assert state["type"] not in ("FAILED", "CRASHED"), log.read_text()
                assert serve.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(1)
            states.append(state["name"])
        assert states == ["Completed", "Unchanged"]
        (run_dir,) = published_runs(tmp_path / "runs" / "hint-test")
        assert json.loads((run_dir / "manifest.json").read_text())["seed"] == 5
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(60)
