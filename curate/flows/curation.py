"""The `curation` flow: one Prefect task per stage, passing artifact references."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed

from curate.config_load import load_config
from curate.lifetime import bind_ephemeral_server
from curate.run import run_curation, unchanged_since


def _servers_die_with_curate() -> None:
    """Without PREFECT_API_URL the flow runs on Prefect's ephemeral server: a child process
    that must not outlive curate (`kill -9` included), see `curate.lifetime`."""
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        bind_ephemeral_server()


_servers_die_with_curate()


def as_task(name: str, fn: Callable, *args: Any) -> Any:
    """Call a stage as a Prefect task. Prefect's own caching is off: stages cache by
    content key in the artifact store, so equal arguments never share a stale result."""
    return task(fn, name=name, cache_policy=NO_CACHE, retries=0)(*args)


@flow(name="curation")
def curation(config_path: str, out_dir: str | None = None, refresh: bool = False,
             allow_smaller: bool = False, overrides: list[str] | None = None,
             skip_unchanged: bool = False) -> Any:
    """Load, embed, cluster, select, synthesize (when configured), assemble and write the
    subset for one config (with `--set` KEY=VALUE `overrides`); returns the run folder.

    `skip_unchanged` (the scheduled runs of `curate serve`): when the newest run of this
    name had the same settings, pool content and package versions, write no run folder and
    end in the state Unchanged, naming that run."""
    cfg = load_config(Path(config_path), allow_smaller, overrides or ())
    out = Path(out_dir) if out_dir else None
    if skip_unchanged and not refresh:
        previous = as_task("unchanged", unchanged_since, cfg, out)
        if previous is not None:
            return Completed(name="Unchanged", data=str(previous),
                             message=f"unchanged: same config, pool and versions as {previous}")
    return str(run_curation(cfg, out, refresh, runner=as_task))
