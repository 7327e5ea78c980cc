"""What the `curate` commands share (`curate.cli`, `curate.cli_bench`): the stderr console,
the one-line error exit, and the options several commands take."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from curate.config_load import ALLOW_CODE_ENV
from curate.errors import CurateError

err_console = Console(stderr=True)

ConfigArg = Annotated[Path, typer.Argument(help="YAML config (see configs/demo.yaml).")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Parent folder for run folders "
                                                           "(default: output.dir).")]
RefreshOpt = Annotated[bool, typer.Option("--refresh", help="Recompute every stage, "
                                                            "ignoring the cache.")]
SmallerOpt = Annotated[bool, typer.Option("--allow-smaller",
                                          help="If the budget exceeds the pool (or 'N per "
                                               "label' a label's rows), take what there is "
                                               "instead of failing.")]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", metavar="KEY=VALUE", help="Override a config key, e.g. --set select.budget=20 "
    "or --set select.selector=kmq --set select.params.temperature=0.5; the value is read as "
    "YAML. Repeatable.")]

AllowCodeOpt = Annotated[bool, typer.Option(
    "--allow-code", help="Let the config name Python code (package.module:Class in "
    "select.selector, synth.generator or bench.selectors): its module is imported and runs. "
    f"Without it such a config is refused. Same as {ALLOW_CODE_ENV}=1.")]


def text_flag(help_text: str, name: str):
    """An optional text flag's type: `--budget`, `--text` and the like."""
    return Annotated[str | None, typer.Option(name, help=help_text)]


@contextmanager
def code_opt_in(allowed: bool) -> Iterator[None]:
    """--allow-code for one command, through the environment: `curate run`'s flow and
    `curate serve`'s scheduled runs (child processes) read the config again themselves."""
    before = os.environ.get(ALLOW_CODE_ENV)
    if allowed:
        os.environ[ALLOW_CODE_ENV] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ALLOW_CODE_ENV, None)
        else:
            os.environ[ALLOW_CODE_ENV] = before


def fail(err: CurateError) -> None:
    """Print `err` as one line on stderr and exit with CurateError's code."""
    err_console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
    raise typer.Exit(CurateError.exit_code)
