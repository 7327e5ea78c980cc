"""`curate serve`: the curation flow as a Prefect deployment on a cron schedule.

Prefect's embedded (ephemeral) server cannot schedule runs, so without PREFECT_API_URL or a
running `curate server start` a local `prefect server start` is run for as long as the flow
is served, then stopped (see `curate.prefect_server`).
"""

from __future__ import annotations

from pathlib import Path

from curate.config_load import load_config
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
    with api_server(server_home(cfg.output.cache_dir)) as api_url:
        print(f"Prefect API: {api_url}", flush=True)
        print(f"Prefect UI: {api_url.removesuffix('/api')}/runs", flush=True)
        curation.serve(name=name or cfg.run_name(), schedules=[schedule], parameters=parameters,
                       entrypoint_type=EntrypointType.MODULE_PATH)
