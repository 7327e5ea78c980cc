"""Issue 11 risk: `kill -9` of `curate run` or `curate serve` left the Prefect server running
on loopback. Servers curate starts get a parent-death signal (Linux prctl), so the kernel
stops them when curate dies, however it dies."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import psutil
import pytest

from .helpers import write_config

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux prctl")

# A child that prints the parent-death signal the kernel holds for it (PR_GET_PDEATHSIG).
REPORT_PDEATHSIG = ("import ctypes; s = ctypes.c_int(); "
                    "ctypes.CDLL(None).prctl(2, ctypes.byref(s)); print(s.value)")


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def test_a_child_dies_with_its_killed_parent(tmp_path):
    parent = textwrap.dedent("""
        import subprocess, sys, time
        from curate.lifetime import die_with_parent
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                                 preexec_fn=die_with_parent())
        print(child.pid, flush=True)
        time.sleep(120)
    """)
    process = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE,
                               text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    child = int(process.stdout.readline())
    try:
        assert not _gone(child, 0.5)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        assert _gone(child, 10), "the child outlived its SIGKILLed parent"
    finally:
        if not _gone(child, 0):
            os.kill(child, signal.SIGKILL)


def test_prefects_ephemeral_server_popen_gets_the_signal():
    from prefect.server.api import server

    from curate.lifetime import bind_ephemeral_server

    bind_ephemeral_server()
    bind_ephemeral_server()  # twice: wrapped once
    shim = server.subprocess
    assert shim.TimeoutExpired is subprocess.TimeoutExpired
    run = [sys.executable, "-c", REPORT_PDEATHSIG]
    main = shim.Popen(run, stdout=subprocess.PIPE, text=True)
    assert main.communicate(timeout=60)[0].strip() == str(int(signal.SIGTERM))
    # Linux ties the signal to the starting thread: a short-lived thread's child gets none.
    result = {}
    worker = threading.Thread(target=lambda: result.update(
        out=shim.Popen(run, stdout=subprocess.PIPE, text=True).communicate(timeout=60)[0]))
    worker.start()
    worker.join()
    assert result["out"].strip() == "0"


DRIVER = textwrap.dedent("""
    import json, os, signal, sys
    import psutil
    import curate.run as run

    def load_then_die(*args, **kwargs):  # the server is up once a task runs
        pids = [p.pid for p in psutil.Process().children(recursive=True)]
        with open(sys.argv[2], "w") as f:
            json.dump(pids, f)
        os.kill(os.getpid(), signal.SIGKILL)

    run.load_stage = load_then_die
    from curate.cli import app
    app(sys.argv[3:])
""")


def _kill_and_check(tmp_path, *command):
    children = tmp_path / "children.json"
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "PREFECT_HOME": str(tmp_path / "home")}
    env.pop("PREFECT_API_URL", None)
    log = tmp_path / "curate.log"  # a file, not a pipe: a surviving server would hold it
    with open(log, "w") as out:
        killed = subprocess.run([sys.executable, "-c", DRIVER, "-", children, *command],
                                env=env, stdout=out, stderr=subprocess.STDOUT, timeout=300)
    assert killed.returncode == -signal.SIGKILL, log.read_text()[-3000:]
    pids = json.loads(children.read_text())
    assert pids, "no server process was started"
    alive = [pid for pid in pids if not _gone(pid, 30)]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive, "the Prefect server outlived curate"


@pytest.mark.slow
def test_kill_9_of_curate_run_stops_the_ephemeral_server(tmp_path):
    _kill_and_check(tmp_path, "run", write_config(tmp_path))


@pytest.mark.slow
def test_kill_9_of_curate_serve_stops_its_server(tmp_path):
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "home")}
    env.pop("PREFECT_API_URL", None)
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        serve = subprocess.Popen([sys.executable, "-m", "curate.cli", "serve",
                                  str(write_config(tmp_path)), "--cron", "0 3 * * *"],
                                 env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while "Prefect API:" not in log.read_text():
            assert serve.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        pids = [p.pid for p in psutil.Process(serve.pid).children(recursive=True)]
        assert pids, "no server process was started"
    finally:
        serve.send_signal(signal.SIGKILL)
        serve.wait(10)
    alive = [pid for pid in pids if not _gone(pid, 30)]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive, "the Prefect server outlived curate serve"


@pytest.mark.slow
def test_a_rerun_reuses_the_temporary_server_and_server_stop_ends_it(tmp_path):
    """Issue 26: a cached `curate run` with no server running paid a server start every
    time; the temporary server now stays for the next run, and `curate server stop` ends it."""
    config = write_config(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), CURATE_PROGRESS="0")
    record = tmp_path / "cache" / "prefect-server" / "temporary-server.json"

    def curate(*args):
        result = subprocess.run([sys.executable, "-m", "curate.cli", *map(str, args)], env=env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        return result

    curate("run", config)
    first = json.loads(record.read_text())
    assert first["released"] and psutil.pid_exists(first["pid"])
    curate("run", config)
    assert json.loads(record.read_text())["pid"] == first["pid"]  # the same server
    stopped = curate("server", "stop", "--cache-dir", tmp_path / "cache")
    assert f"pid {first['pid']}" in stopped.stdout
    assert _gone(first["pid"], 30) and not record.exists()
