"""The Prefect API that `curate run` and `curate serve` report to, and the servers curate starts.

In order of preference:
1. PREFECT_API_URL (environment or Prefect profile): that server, started by someone else.
2. A curate server that is up: `curate server start`, or a running `curate serve`, record
   their API in <output.cache_dir>/prefect-server/server.json. Reusing one costs a
   `curate run` nothing but the flow's API calls, and its UI shows every run.
3. A temporary server an earlier `curate run` left: it stays `CURATE_SERVER_LINGER`
   seconds after its last run, recorded in <home>/temporary-server.json, so a rerun does
   not pay a server start; `curate server stop` ends it sooner.
4. Otherwise `curate run` starts a temporary server (Prefect's server app under uvicorn, no
   UI), and `curate serve` a full `prefect server start` (Prefect's embedded server cannot
   schedule runs) for as long as it serves.

The temporary server is started before Prefect is imported, so its start-up overlaps the
import of Prefect and of the flow. Every server curate starts is stopped when curate exits
(a temporary server: after its linger time), by a parent-death signal after `kill -9` at
once (see `curate.lifetime`). A full server's
UI is told its API URL (PREFECT_UI_API_URL): by default the UI would call port 4200.
"""

from __future__ import annotations

import contextlib
import json
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

from curate.errors import CurateError
from curate.lifetime import die_with_parent, in_use, read_record
from curate.store import write_json

SERVER_START_TIMEOUT = 180.0
SERVER_FILE = "server.json"


def server_home(cache_dir: Path) -> Path:
    """PREFECT_HOME (database, logs, server.json) of the servers curate runs for a cache."""
    return Path(cache_dir) / "prefect-server"


def _free_port() -> int:
    """A port nothing listens on now. Another process may take it before the server binds it;
    the server then exits and `_wait_healthy` reports its log."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _pid_alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError, TypeError):
        return False
    except PermissionError:
        return True
    return True


def running_server(home: Path) -> dict | None:
    """The curate server recorded in `home` ({api_url, ui_url, pid}) when it answers."""
    info = read_record(Path(home) / SERVER_FILE)
    if not info or not _pid_alive(info.get("pid")) or not healthy(str(info.get("api_url"))):
        return None
    return info


def _stop(process: subprocess.Popen, grace: float = 20.0) -> None:
    """SIGTERM the server's process group (it was started in its own session, so the group
    holds the server and only its children), then SIGKILL what is left after `grace`.
    With `grace` 0 the server finishes its shutdown on its own."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    if grace <= 0:
        return
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace)


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


def _server_env(api_url: str, port: int, home: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_SERVER_API_HOST="127.0.0.1",
               PREFECT_SERVER_API_PORT=str(port), PREFECT_UI_API_URL=api_url,
               PREFECT_UI_URL=api_url.removesuffix("/api"))
    if home is not None:
        env["PREFECT_HOME"] = str(home)
    return env


def _start(command: list[str], env: dict[str, str], log_path: Path,
           cwd: Path | None = None) -> subprocess.Popen:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(command, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=die_with_parent())  # even after kill -9


def _wait_healthy(process: subprocess.Popen, api_url: str, log_path: Path,
                  timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not healthy(api_url):
        if process.poll() is not None:
            raise CurateError(f"the local Prefect server exited with code "
                              f"{process.returncode}; see {log_path}",
                              "fix the problem it logged, or set PREFECT_API_URL")
        if time.monotonic() > deadline:
            raise CurateError(f"the local Prefect server did not answer within "
                              f"{timeout:.0f} s; see {log_path}",
                              "check the log, or set PREFECT_API_URL to a running server")
        time.sleep(0.05)


@contextlib.contextmanager
def local_server(home: Path, timeout: float = SERVER_START_TIMEOUT, port: int = 0,
                 record: bool = True) -> Iterator[str]:
    """Run `prefect server start` (API, UI, scheduler) on 127.0.0.1 with PREFECT_HOME=`home`;
    yield its API URL. With `record`, <home>/server.json names it while it runs, so that
    `curate run` and `curate serve` with the same cache reuse it.

    The server (and its children) are stopped on exit, including SIGINT and SIGTERM; on
    Linux the kernel stops it when this process dies otherwise (SIGKILL).
    """
    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    log_path = home / "server.log"
    # Until Prefect's runner installs its own SIGTERM handler, a SIGTERM must still unwind
    # through the `finally` below, or the server would outlive us.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    process = _start([sys.executable, "-m", "prefect", "server", "start", "--host",
                      "127.0.0.1", "--port", str(port)],
                     _server_env(api_url, port, home), log_path)
    record_path = home / SERVER_FILE
    try:
        _wait_healthy(process, api_url, log_path, timeout)
        if record:
            record_path.write_text(json.dumps({"api_url": api_url,
                                               "ui_url": api_url.removesuffix("/api"),
                                               "pid": os.getpid()}))
        yield api_url
    finally:
        if record:
            with contextlib.suppress(OSError, ValueError):
                if json.loads(record_path.read_text()).get("pid") == os.getpid():
                    record_path.unlink()
        _stop(process)
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _using(api_url: str, heartbeats: bool = True, ui: bool = True) -> Iterator[str]:
    """PREFECT_API_URL for this process (set before Prefect reads it) and its children.

    heartbeats=False: no flow-run heartbeats unless PREFECT_FLOWS_HEARTBEAT_FREQUENCY is
    set. They let a server mark a run whose process vanished as crashed; a run on a server
    of curate's own is watched from its terminal, and Prefect's heartbeat thread held every
    run's end for up to a second (it sleeps in 1 s steps before it sees the stop).
    ui=False: the server has no UI, so Prefect logs no "View at" links to it."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_UI_URL,
        temporary_settings,
    )

    os.environ["PREFECT_API_URL"] = api_url
    defaults = {} if heartbeats else {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    try:
        updates = {PREFECT_API_URL: api_url} | ({} if ui else {PREFECT_UI_URL: ""})
        with temporary_settings(updates, set_defaults=defaults):
            yield api_url
    finally:
        os.environ.pop("PREFECT_API_URL", None)


def _configured_url() -> str | None:
    """PREFECT_API_URL from the environment or the active Prefect profile."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


@contextlib.contextmanager
def api_server(home: Path) -> Iterator[str]:
    """The Prefect API to serve against: PREFECT_API_URL (env or profile) when set, else a
    curate server recorded in `home`, else a local server started for the duration (and
    recorded, so `curate run` reuses it meanwhile)."""
    configured = _configured_url()
    if configured:
        yield configured
        return
    running = running_server(home)
    if running:
        with _using(running["api_url"]) as url:
            yield url
        return
    with local_server(home) as api_url, _using(api_url):
        yield api_url


@contextlib.contextmanager
def flow_api(home: Path, timeout: float = SERVER_START_TIMEOUT) -> Iterator[str]:
    """The Prefect API for one `curate run`: PREFECT_API_URL, else a running curate server,
    else the temporary server an earlier run left, else a new temporary server (Prefect's
    server app, on PREFECT_HOME) that stays for the next run (`serve_temporary`).

    The new server starts before Prefect is imported, so its start-up overlaps that import."""
    if os.environ.get("PREFECT_API_URL"):
        yield os.environ["PREFECT_API_URL"]
        return
    running = running_server(home)
    if running:
        with _using(running["api_url"], heartbeats=False) as url:
            yield url
        return
    record = Path(home) / TEMPORARY_FILE
    if lingering := temporary_server(home):
        with in_use(record), _temporary_api(lingering["api_url"]) as url:
            yield url
        return
    port, linger = _free_port(), linger_seconds()
    api_url = f"http://127.0.0.1:{port}/api"
    env = _server_env(api_url, port, None)
    env.update(PREFECT_UI_ENABLED="0", PREFECT__SERVER_EPHEMERAL="1", PREFECT__SERVER_FINAL="1")
    Path(home).mkdir(parents=True, exist_ok=True)
    process = _start([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); from "
                      "curate.lifetime import serve_temporary; serve_temporary()",
                      str(Path(__file__).resolve().parents[1]), str(port), str(record.resolve()),
                      str(linger)], env, Path(home) / "temporary-server.log", cwd=Path(home))
    handed_over = False
    try:
        configured = _configured_url()  # imports Prefect meanwhile
        if configured:  # set in the Prefect profile: no temporary server
            yield configured
            return
        _wait_healthy(process, api_url, Path(home) / "temporary-server.log", timeout)
        if linger:
            write_json(record, {"api_url": api_url, "pid": process.pid, "released": False})
            handed_over = True
        with in_use(record), _temporary_api(api_url) as url:
            yield url
    finally:
        if handed_over:  # curate ends normally: the server stays for the next run
            write_json(record, {"api_url": api_url, "pid": process.pid, "released": True})
        else:
            _stop(process, grace=0)


@contextlib.contextmanager
def _temporary_api(api_url: str) -> Iterator[str]:
    with _using(api_url, heartbeats=False, ui=False):
        try:
            yield api_url
        finally:  # a failed run's logs too: else they may meet a stopped server
            _drain_prefect_workers()


# A temporary server stays this long after its last run (CURATE_SERVER_LINGER seconds; 0:
# it stops with the run that started it). Runs that use it touch its record meanwhile.
LINGER_ENV, LINGER_SECONDS = "CURATE_SERVER_LINGER", 300.0
TEMPORARY_FILE = "temporary-server.json"


def linger_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get(LINGER_ENV, LINGER_SECONDS)))
    except ValueError:
        return LINGER_SECONDS


def temporary_server(home: Path) -> dict | None:
    """The temporary server an earlier `curate run` left in `home` when it answers; the
    record of one whose process is gone is deleted."""
    record = Path(home) / TEMPORARY_FILE
    if (info := read_record(record)) is not None and not _pid_alive(info.get("pid")):
        with contextlib.suppress(OSError):
            record.unlink()
        return None
    return info if info and healthy(str(info.get("api_url"))) else None


def stop_temporary(home: Path) -> dict | None:
    """`curate server stop`: end the temporary server of `home` (its record goes first, so
    the server sees the stop as one); returns its record, None when there was none."""
    record = Path(home) / TEMPORARY_FILE
    info = read_record(record)
    with contextlib.suppress(OSError):
        record.unlink()
    if info is None or not _pid_alive(info.get("pid")):
        return None
    with contextlib.suppress(ProcessLookupError, ValueError, TypeError):
        os.kill(int(info["pid"]), signal.SIGTERM)
    return info


def _drain_prefect_workers() -> None:
    """Send the logs and events Prefect still holds before its server goes away."""
    with contextlib.suppress(Exception):
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=5)
    with contextlib.suppress(Exception):
        from prefect.events.worker import EventsWorker

        EventsWorker.drain_all(timeout=5)
