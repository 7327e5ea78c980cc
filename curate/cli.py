"""The `curate` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from curate.config import load_config
from curate.errors import CurateError

app = typer.Typer(help="Choose the subset of a data pool that fine-tunes best.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
err_console = Console(stderr=True)

ConfigArg = Annotated[Path, typer.Argument(help="YAML config (see configs/demo.yaml).")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Parent folder for run folders "
                                                           "(default: output.dir).")]
RefreshOpt = Annotated[bool, typer.Option("--refresh", help="Recompute every stage, "
                                                            "ignoring the cache.")]
SmallerOpt = Annotated[bool, typer.Option("--allow-smaller",
                                          help="If the budget exceeds the pool, take the "
                                               "whole pool instead of failing.")]


def _fail(err: CurateError) -> None:
    err_console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
    raise typer.Exit(CurateError.exit_code)


@app.command()
def run(config: ConfigArg, out: OutOpt = None, refresh: RefreshOpt = False,
        allow_smaller: SmallerOpt = False) -> None:
    """Run the curation flow under Prefect and write runs/<name>/<timestamp>/.

    Without PREFECT_API_URL the flow runs on Prefect's embedded local server.
    """
    try:
        load_config(config, allow_smaller)  # fail fast on a bad config, before Prefect starts
        from curate.flows.curation import curation

        run_dir = curation(str(config), str(out) if out else None, refresh, allow_smaller)
    except CurateError as err:
        _fail(err)
    typer.echo(run_dir)


@app.command()
def select(config: ConfigArg, out: OutOpt = None, refresh: RefreshOpt = False,
           allow_smaller: SmallerOpt = False) -> None:
    """Run the same stages without Prefect (the library path) and write the run folder."""
    from curate.run import run_curation

    try:
        run_dir = run_curation(load_config(config, allow_smaller), out, refresh)
    except CurateError as err:
        _fail(err)
    typer.echo(run_dir)


@app.command()
def datasets() -> None:
    """List the builtin datasets (builtin:NAME) with their row and label counts."""
    from curate.data.builtin import BUILTINS

    table = Table()
    for column in ("name", "rows", "labels"):
        table.add_column(column, no_wrap=True)
    table.add_column("content")
    table.add_column("from")
    for name, builtin in BUILTINS.items():
        try:
            frame, schema = builtin.load()
            rows, labels = str(frame.height), str(frame[schema.label].n_unique())
        except CurateError as err:
            rows, labels = "missing", str(err)
        table.add_row(f"builtin:{name}", rows, labels, builtin.description, builtin.package)
    Console().print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
