"""`curate serve`: the curation flow as a Prefect deployment on a cron schedule.

Prefect's embedded (ephemeral) server cannot schedule runs, so without PREFECT_API_URL or a
running `curate server start` a local `prefect server start` is run for as long as the flow
is served, then stopped (see `curate.prefect_server`). A scheduled run whose config, pool and
package versions are those of the newest run writes no run folder (state Unchanged).
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from curate.config_load import absolute_overrides, load_config
from curate.errors import CurateError
from curate.prefect_server import api_server, server_home

__all__ = ["api_server", "serve_curation"]


def _cron_schedule(cron: str):
    from prefect.client.schemas.schedules import CronSchedule

    try:
        return CronSchedule(cron=cron)
    except ValueError:
        raise CurateError(f"--cron '{cron}' is not a valid cron expression",
                          "use five fields, e.g. \"0 3 * * *\" for 03:00 every day") from None


def _prefect_command() -> str:
    """`prefect` when the one on PATH is this environment's, else this Python's `-m prefect`
    (a venv used without activating it has no `prefect` on PATH)."""
    found = shutil.which("prefect")
    ours = Path(sys.executable).parent / "prefect"
    if found and os.path.realpath(found) == os.path.realpath(ours):
        return "prefect"
    return f"{shlex.quote(sys.executable)} -m prefect"


def run_hint(api_url: str, deployment: str) -> str:
    """How to start the deployment now from another terminal, as lines to paste: that
    terminal has no PREFECT_API_URL, and without it `prefect deployment run` asks the
    default server (or none) for a deployment it does not know."""
    return ("To run it now from another terminal:\n"
            f"  export PREFECT_API_URL={shlex.quote(api_url)}\n"
            f"  {_prefect_command()} deployment run {shlex.quote(deployment)}")


def serve_curation(config: Path, cron: str, name: str | None = None, out: Path | None = None,
                   allow_smaller: bool = False, overrides: Sequence[str] = ()) -> None:
    """Create the deployment `curation/<name>` with the cron schedule and serve it until
    interrupted. Scheduled runs execute in child processes of this one."""
    from prefect.deployments.runner import EntrypointType

    from curate.flows.curation import curation

    cfg = load_config(config, allow_smaller, overrides)
    schedule = _cron_schedule(cron)
    name = name or cfg.run_name()
    # Scheduled runs may start in another working directory: paths must be absolute.
    parameters = {"config_path": str(Path(config).resolve()),
                  "out_dir": str(Path(out or cfg.output.dir).resolve()),
                  "allow_smaller": allow_smaller, "overrides": absolute_overrides(overrides),
                  "skip_unchanged": True}
    with api_server(server_home(cfg.output.cache_dir)) as api_url:
        print(f"Prefect API: {api_url}", flush=True)
        print(f"Prefect UI: {api_url.removesuffix('/api')}/runs", flush=True)
        print(f"Serving curation/{name} on \"{cron}\" until Ctrl-C.\n"
              f"{run_hint(api_url, f'curation/{name}')}", flush=True)
        curation.serve(name=name, schedules=[schedule], parameters=parameters,
                       entrypoint_type=EntrypointType.MODULE_PATH)
