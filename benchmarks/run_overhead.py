"""What Prefect costs a fully cached rerun: `curate run` against `curate select` (issue 13).

Both commands run as a user runs them (`python -m curate.cli ...`, a fresh process each) on
configs/digits.yaml with a cache of their own, after one untimed run of each has filled the
cache (and the Prefect database). `curate run` is timed three ways, interleaved with `curate
select` in every round: reporting to a running `curate server start` for that cache (the
path the README recommends for repeated runs); with no server running, as a first-time
user reruns (the temporary server the previous run left, CURATE_SERVER_LINGER); and with
CURATE_SERVER_LINGER=0, when every run starts and stops a temporary server of its own. The
figure is the median of `repeats` rounds; the load other processes put on the machine
meanwhile is recorded with it.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.common import _busy_cpu_seconds
from curate.prefect_server import running_server, server_home

ROOT = Path(__file__).resolve().parents[1]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(command: list[str], env: dict) -> dict:
    """Wall seconds of one command, and the cores other processes kept busy meanwhile."""
    busy, own, started = _busy_cpu_seconds(), _children_cpu(), time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "curate.cli", *command], env=env,
                            cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode:
        raise RuntimeError(f"curate {' '.join(command)} failed:\n{result.stderr[-3000:]}")
    cpu = _children_cpu() - own
    end = _busy_cpu_seconds()
    return {"seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3),
            "other_busy_cores": None if busy is None or end is None
            else round(max(0.0, (end - busy - cpu) / seconds), 2)}


def _summary(samples: list[dict]) -> dict:
    return {"median_s": round(statistics.median(s["seconds"] for s in samples), 3),
            "median_cpu_s": round(statistics.median(s["cpu_seconds"] for s in samples), 3),
            "samples": samples}


def run(repeats: int = 5, config: str = "configs/digits.yaml") -> dict:
    with tempfile.TemporaryDirectory(prefix="curate-run-overhead-") as tmp:
        tmp = Path(tmp)
        cfg = yaml.safe_load((ROOT / config).read_text())
        cfg["output"] = {"dir": str(tmp / "runs"), "cache_dir": str(tmp / "cache")}
        path = tmp / "config.yaml"
        path.write_text(yaml.safe_dump(cfg))
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        env.update(PREFECT_HOME=str(tmp / "prefect-home"), CURATE_PROGRESS="0",
                   HF_HUB_OFFLINE="1", PREFECT_SERVER_ANALYTICS_ENABLED="false",
                   DO_NOT_TRACK="1")
        select, run_ = ["select", str(path)], ["run", str(path)]
        for command in (select, run_):  # fill the cache and the Prefect database
            _timed(command, env)
        samples: dict[str, list[dict]] = {"select": [], "run_temporary_server": [],
                                          "run_curate_server": [], "run_no_server": []}
        home = server_home(tmp / "cache")
        with open(tmp / "server.log", "wb") as log:
            server = subprocess.Popen([sys.executable, "-m", "curate.cli", "server", "start",
                                       "--cache-dir", str(tmp / "cache")], env=env, cwd=ROOT,
                                      stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 300
            while not running_server(home):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"curate server start: {(tmp / 'server.log').read_text()}")
                time.sleep(0.5)
            _timed(run_, env)  # the server's first flow run (flow registration)
            for i in range(repeats):
                samples["select"].append(_timed(select, env))
                samples["run_curate_server"].append(_timed(run_, env))
                print(f"  round {i + 1}: select {samples['select'][-1]['seconds']} s, run with "
                      f"curate server {samples['run_curate_server'][-1]['seconds']} s",
                      flush=True)
        finally:
            server.terminate()
            server.wait(60)
        stop = ["server", "stop", "--cache-dir", str(tmp / "cache")]
        for i in range(repeats):
            # No server at all (the previous round's lingers until stopped): this run starts
            # and stops its own.
            _timed(stop, env)
            samples["run_no_server"].append(_timed(run_, {**env, "CURATE_SERVER_LINGER": "0"}))
            _timed(run_, env)  # starts the temporary server, which lingers for the next run
            samples["run_temporary_server"].append(_timed(run_, env))
            samples["select"].append(_timed(select, env))
            after = samples["run_temporary_server"][-1]["seconds"]
            print(f"  round {i + 1}: run after a run {after} s, run starting its own server "
                  f"{samples['run_no_server'][-1]['seconds']} s, select "
                  f"{samples['select'][-1]['seconds']} s", flush=True)
        _timed(stop, env)
    result = {"config": config, "repeats": repeats, "load_average": os.getloadavg(),
              **{name: _summary(s) for name, s in samples.items()}}
    base = result["select"]["median_s"]
    result["ratio_curate_server"] = round(result["run_curate_server"]["median_s"] / base, 2)
    result["ratio_temporary_server"] = round(result["run_temporary_server"]["median_s"] / base,
                                             2)
    result["ratio_no_server"] = round(result["run_no_server"]["median_s"] / base, 2)
    print(f"  curate run / curate select: {result['ratio_curate_server']} with a running "
          f"curate server, {result['ratio_temporary_server']} after a run (its temporary "
          f"server), {result['ratio_no_server']} starting a server", flush=True)
    return result


def render(d: dict) -> list[str]:
    busy = [s["other_busy_cores"] for name in ("select", "run_curate_server",
                                               "run_temporary_server", "run_no_server")
            for s in d[name]["samples"] if s["other_busy_cores"] is not None]
    load = (f"; other processes kept {statistics.median(busy):.1f} cores busy meanwhile "
            f"(median)" if busy else "")
    return [f"## Prefect overhead of a cached rerun (`curate run` vs `curate select`, "
            f"{d['config']})", "",
            f"Median of {d['repeats']} rounds, each command a fresh process, on "
            f"{d['machine']['cpu']} ({d['machine']['cores']} cores){load}; load average "
            f"{d['load_average'][0]:.1f} at the end.", "",
            "| command | wall s | CPU s | ratio to select |", "|---|---|---|---|",
            f"| `curate select` | {d['select']['median_s']} | {d['select']['median_cpu_s']} "
            f"| 1.0 |",
            f"| `curate run`, a `curate server start` running | "
            f"{d['run_curate_server']['median_s']} | {d['run_curate_server']['median_cpu_s']} "
            f"| {d['ratio_curate_server']} |",
            f"| `curate run`, no server running (the previous run's temporary server) | "
            f"{d['run_temporary_server']['median_s']} | "
            f"{d['run_temporary_server']['median_cpu_s']} | {d['ratio_temporary_server']} |",
            f"| `curate run`, CURATE_SERVER_LINGER=0 (a server started per run) | "
            f"{d['run_no_server']['median_s']} | {d['run_no_server']['median_cpu_s']} | "
            f"{d['ratio_no_server']} |", ""]
