"""`curate serve`: the curation flow as a Prefect deployment on a cron schedule.

Prefect's embedded (ephemeral) server cannot schedule runs, so without PREFECT_API_URL a
local `prefect server start` is run for as long as the flow is served, then stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from curate.config import load_config
from curate.errors import CurateError
from curate.flows.lifetime import die_with_parent

SERVER_START_TIMEOUT = 180.0


def _free_port() -> int:
    """A port nothing listens on now. Another process may take it before the server binds it;
    the server then exits and `local_server` reports its log."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _stop(process: subprocess.Popen, grace: float = 20.0) -> None:
    """SIGTERM the server's process group (it was started in its own session, so the group
    holds the server and only its children), then SIGKILL what is left after `grace`."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def local_server(home: Path, timeout: float = SERVER_START_TIMEOUT) -> Iterator[str]:
    """Run `prefect server start` on 127.0.0.1 with PREFECT_HOME=`home`; yield its API URL.

    The server (and its children) are stopped on exit, including SIGINT and SIGTERM; on
    Linux the kernel stops it when this process dies otherwise (SIGKILL).
    """
    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    log_path = home / "server.log"
    # Until Prefect's runner installs its own SIGTERM handler, a SIGTERM must still unwind
    # through the `finally` below, or the server would outlive us.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
             "--port", str(port)],
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=die_with_parent())  # even after kill -9
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(api_url):
            if process.poll() is not None:
                raise CurateError(f"the local Prefect server exited with code "
                                  f"{process.returncode}; see {log_path}",
                                  "fix the problem it logged, or set PREFECT_API_URL")
            if time.monotonic() > deadline:
                raise CurateError(f"the local Prefect server did not answer within "
                                  f"{timeout:.0f} s; see {log_path}",
                                  "check the log, or set PREFECT_API_URL to a running server")
            time.sleep(0.5)
        yield api_url
    finally:
        _stop(process)
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def api_server(home: Path) -> Iterator[str]:
    """The Prefect API to serve against: PREFECT_API_URL (env or profile) when set, else a
    local server started for the duration. Child processes see the URL in the environment."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    configured = PREFECT_API_URL.value()
    if configured:
        yield configured
        return
    with local_server(home) as api_url, temporary_settings({PREFECT_API_URL: api_url}):
        os.environ["PREFECT_API_URL"] = api_url
        try:
            yield api_url
        finally:
            os.environ.pop("PREFECT_API_URL", None)


def _cron_schedule(cron: str):
    from prefect.client.schemas.schedules import CronSchedule

    try:
        return CronSchedule(cron=cron)
    except ValueError:
        raise CurateError(f"--cron '{cron}' is not a valid cron expression",
                          "use five fields, e.g. \"0 3 * * *\" for 03:00 every day") from None


def serve_curation(config: Path, cron: str, name: str | None = None, out: Path | None = None,
                   allow_smaller: bool = False) -> None:
    """Create the deployment `curation/<name>` with the cron schedule and serve it until
    interrupted. Scheduled runs execute in child processes of this one."""
    from prefect.deployments.runner import EntrypointType

    from curate.flows.curation import curation

    cfg = load_config(config, allow_smaller)
    schedule = _cron_schedule(cron)
    # Scheduled runs may start in another working directory: paths must be absolute.
    parameters = {"config_path": str(Path(config).resolve()),
                  "out_dir": str(Path(out or cfg.output.dir).resolve()),
                  "allow_smaller": allow_smaller}
    with api_server(Path(cfg.output.cache_dir) / "prefect-server") as api_url:
        print(f"Prefect API: {api_url}", flush=True)
        curation.serve(name=name or cfg.run_name(), schedules=[schedule], parameters=parameters,
                       entrypoint_type=EntrypointType.MODULE_PATH)
