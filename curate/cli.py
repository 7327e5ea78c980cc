"""The `curate` command line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperOption

from curate.cli_bench import bench
from curate.cli_common import (
    AllowCodeOpt,
    ConfigArg,
    OutOpt,
    RefreshOpt,
    SetOpt,
    SmallerOpt,
    code_opt_in,
    err_console,
    fail,
    text_flag,
)
from curate.config_load import load_config
from curate.errors import CurateError

app = typer.Typer(help="Choose the subset of a data pool that fine-tunes best.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
_quiet = False  # --quiet: no summary of the run's parts on stderr either


def _flag_type(self: TyperOption, ctx) -> str | None:
    """Flags take no value: no `<bool>` next to them in --help."""
    return None if self.is_bool_flag else _option_type(self, ctx)


_option_type, TyperOption.display_type_rich = TyperOption.display_type_rich, _flag_type


def _version(value: bool) -> None:
    if value:
        from curate import __version__

        typer.echo(f"curate {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also log every stage's "
                                          "time and cache use on stderr.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors: no "
                                        "progress bars or lines.")] = False,
) -> None:
    """Choose the subset of a data pool that fine-tunes best. Every run folder also gets a
    run.log with every stage's log lines."""
    from curate.progress import configure

    global _quiet
    _quiet = quiet
    configure(-1 if quiet else 1 if verbose else 0)


def _echo_run(run_dir: str | Path) -> None:
    """Where the run's parts are, for people (stderr); the run folder, for scripts (stdout)."""
    import json

    run_dir = Path(run_dir)
    if _quiet:
        typer.echo(run_dir)
        return
    handoff = json.loads((run_dir / "handoff.json").read_text())
    err_console.print(f"subset:   {run_dir / handoff['subset']['path']} "
                      f"({handoff['subset']['rows']} rows)\n"
                      f"report:   {run_dir / 'report.html'}\n"
                      f"hand-off: {run_dir / 'handoff.json'} ({handoff['mode']})",
                      highlight=False, soft_wrap=True)
    typer.echo(run_dir)


@app.command()
def run(config: ConfigArg, out: OutOpt = None, refresh: RefreshOpt = False,
        allow_smaller: SmallerOpt = False, set_: SetOpt = None,
        allow_code: AllowCodeOpt = False,
        debug: Annotated[bool, typer.Option("--debug", help="Show Prefect's tracebacks for "
                                                          "user and environment errors too.")
                         ] = False) -> None:
    """Run the curation flow under Prefect and write runs/<name>/<timestamp>/.

    Reports to PREFECT_API_URL when set, else to a running `curate server start` (or
    `curate serve`) for the same cache, else to a temporary local server for the run.
    """
    from curate.prefect_server import flow_api, server_home

    try:
        # fail fast on a bad config or a missing data file, before Prefect starts
        cfg = load_config(config, allow_smaller, set_ or (), allow_code)
        if cfg.data.path is not None:
            from curate.data.sources import require_local

            require_local(Path(cfg.data.path))
        with code_opt_in(allow_code), flow_api(server_home(cfg.output.cache_dir)):
            from curate.flows.curation import curation

            if not debug:
                from curate.flows.quiet import hide_curate_errors

                hide_curate_errors()
            run_dir = curation(str(config), str(out) if out else None, refresh, allow_smaller,
                               set_ or [])
    except CurateError as err:
        fail(err)
    _echo_run(run_dir)


@app.command()
def select(config: Annotated[str, typer.Argument(
               metavar="CONFIG|DATA", help="A YAML config (see configs/demo.yaml), or the pool "
               "itself: a parquet, jsonl or csv file, a datasets folder, builtin:NAME or a Hub "
               "id, run on the defaults and the flags below.")],
           budget: text_flag("How many rows: a count (1000), a fraction (0.02 or 2%) or N per "
                         "label (select.budget; default 2%).", "--budget") = None,
           selector: text_flag("select.selector (default auto; see `curate selectors`).",
                           "--selector") = None,
           text: text_flag("The text column (data.text_column).", "--text") = None,
           label: text_flag("The label column (data.label_column).", "--label") = None,
           prompt: text_flag("The prompt column of prompt/response pairs.", "--prompt") = None,
           response: text_flag("The response column.", "--response") = None,
           id_: text_flag("The id column (default: row numbers).", "--id") = None,
           out: OutOpt = None, refresh: RefreshOpt = False,
           allow_smaller: SmallerOpt = False, set_: SetOpt = None,
           allow_code: AllowCodeOpt = False) -> None:
    """Run the same stages without Prefect (the library path) and write the run folder,
    with the config it used (config.yaml).

    Without a config: `curate select pool.jsonl --budget 2% --text text --label label`.
    """
    import yaml

    from curate.config_load import load_config_or_data
    from curate.run import run_curation

    flags = {"select.budget": None if budget is None else yaml.safe_load(budget),
             "select.selector": selector, "data.text_column": text,
             "data.label_column": label, "data.prompt_column": prompt,
             "data.response_column": response, "data.id_column": id_}
    try:
        cfg = load_config_or_data(config, allow_smaller, set_ or (), allow_code,
                                  {k: v for k, v in flags.items() if v is not None})
        run_dir = run_curation(cfg, out, refresh)
    except CurateError as err:
        fail(err)
    _echo_run(run_dir)


@app.command()
def serve(config: ConfigArg,
          cron: Annotated[str, typer.Option(help="When to run, as a cron expression, e.g. "
                                                 "\"0 3 * * *\" (03:00 every day).")],
          name: Annotated[str | None, typer.Option(help="Deployment name (default: run.name "
                                                        "or the data source).")] = None,
          out: OutOpt = None, allow_smaller: SmallerOpt = False, set_: SetOpt = None,
          allow_code: AllowCodeOpt = False) -> None:
    """Serve the curation flow as a Prefect deployment on a cron schedule, until Ctrl-C.

    Without PREFECT_API_URL a local Prefect server is started (and stopped on exit), since
    Prefect's embedded server cannot schedule runs. A scheduled run that would repeat the
    newest run (same config, pool content and versions) writes no run folder and ends in
    the state Unchanged.
    """
    from curate.flows.serve import serve_curation

    try:
        with code_opt_in(allow_code):
            serve_curation(config, cron, name, out, allow_smaller, set_ or ())
    except CurateError as err:
        fail(err)


server_app = typer.Typer(help="A local Prefect server (with its UI) that `curate run` and "
                                "`curate serve` report to instead of starting their own.",
                           no_args_is_help=True)
app.add_typer(server_app, name="server")
CacheOpt = Annotated[Path, typer.Option("--cache-dir", help="The cache folder "
                                                            "(output.cache_dir) of the configs "
                                                            "that should use it.")]


@server_app.command("start")
def server_start(cache_dir: CacheOpt = Path(".curate-cache"),
                 port: Annotated[int, typer.Option(help="Port (0: a free one).")] = 0) -> None:
    """Run a Prefect server until Ctrl-C (or `curate server stop`); meanwhile `curate run`
    and `curate serve` with this cache report to it, without starting a server each."""
    import time

    from curate.prefect_server import local_server, running_server, server_home

    home = server_home(cache_dir)
    try:
        if running := running_server(home):
            raise CurateError(f"a curate server already runs for {cache_dir} "
                              f"({running['ui_url']}, pid {running['pid']})",
                              "use it, or `curate server stop` first")
        with local_server(home, port=port) as api_url:
            typer.echo(f"Prefect API: {api_url}\nPrefect UI: "
                       f"{api_url.removesuffix('/api')}/runs")
            while True:
                time.sleep(3600)
    except CurateError as err:
        fail(err)
    except KeyboardInterrupt:
        pass


@server_app.command("stop")
def server_stop(cache_dir: CacheOpt = Path(".curate-cache")) -> None:
    """Stop the server `curate server start` runs for this cache, else the temporary server
    an earlier `curate run` left for the next one."""
    import signal

    from curate.prefect_server import running_server, server_home, stop_temporary

    running = running_server(server_home(cache_dir))
    if not running:
        if temporary := stop_temporary(server_home(cache_dir)):
            typer.echo(f"stopped the temporary server {temporary['api_url']} "
                       f"(pid {temporary['pid']})")
            return
        typer.echo(f"no curate server runs for {cache_dir}")
        raise typer.Exit(1)
    os.kill(int(running["pid"]), signal.SIGTERM)
    typer.echo(f"stopped {running['api_url']} (pid {running['pid']})")


app.command()(bench)  # curate/cli_bench.py: the command and its config assembly


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
            rows, labels, frame = "missing", str(err), None
        table.add_row(f"builtin:{name}", rows, labels, builtin.description, builtin.package)
        if builtin.per_label and frame is not None:
            for label, count in frame[schema.label].value_counts(sort=True).rows():
                table.add_row(f"  {label}", str(count), "", "", "")
    Console().print(table)


@app.command()
def selectors() -> None:
    """List the selectors (select.selector): name, parameters and what each does."""
    import inspect

    from curate.selectors.registry import available

    table = Table()
    for column in ("name", "parameters", "what it does"):
        table.add_column(column, no_wrap=column == "name")
    for name, cls in available().items():
        params = [f"{p.name}={p.default!r}" if p.default is not p.empty else p.name
                  for p in inspect.signature(cls.__init__).parameters.values()
                  if p.name != "self" and p.kind is not p.VAR_KEYWORD]
        doc = inspect.getdoc(cls) or ""
        if not doc or doc.startswith("Args"):  # the summary is in the module's docstring
            doc = inspect.getdoc(inspect.getmodule(cls)) or ""
        doc = doc.strip().split("\n\n")[0].replace("\n", " ")
        table.add_row(name, ", ".join(params), doc)
    Console().print(table)


@app.command()
def schema(out: Annotated[Path | None, typer.Option(
        "--out", help="Write it to this file instead of printing it.")] = None) -> None:
    """Print the config's JSON Schema, for completion and checks in your editor (YAML
    language server: `# yaml-language-server: $schema=curate.schema.json`)."""
    import json

    from curate.config_load import config_json_schema
    from curate.store import atomic_path

    text = json.dumps(config_json_schema(), indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        with atomic_path(out) as tmp:  # an editor never reads a half-written schema
            tmp.write_text(text, encoding="utf-8")
    except OSError as err:
        fail(CurateError(f"cannot write {out} ({err.strerror or err})",
                          "choose a writable file for --out"))
    typer.echo(out)


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run folder: runs/<name>/<timestamp>.")],
    repo: Annotated[str | None, typer.Option(help="Hub dataset repo USER/NAME (default: the "
                                                  "run's export.repo).")] = None,
    private: Annotated[bool, typer.Option("--private", help="Create the repo private.")
                       ] = False,
    dry_run: Annotated[Path | None, typer.Option("--dry-run", help="Write exactly what would "
                                                 "be pushed into this new folder instead.")
                       ] = None,
) -> None:
    """Push the run's subset to the Hugging Face Hub as a dataset: parquet shards and a
    dataset card with provenance, in one commit. The token comes from HF_TOKEN or
    `hf auth login`."""
    from curate.hub import export_run

    try:
        where = export_run(run_dir, repo, private, dry_run)
    except CurateError as err:
        fail(err)
    typer.echo(where)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run folder: runs/<name>/<timestamp>.")],
    open_: Annotated[bool, typer.Option("--open", help="Open it in the web browser.")] = False,
) -> None:
    """Rebuild the run's report.html (self-contained: map, label mix, clusters, scores,
    examples) from its artifacts and print its path."""
    from curate.report.html import write_html_report

    if not (Path(run_dir) / "manifest.json").is_file():
        fail(CurateError(f"{run_dir} is not a run folder (no manifest.json)",
                          "pass runs/<name>/<timestamp>"))
    path = write_html_report(run_dir)
    if open_:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())
    typer.echo(path)


cache_app = typer.Typer(help="Check and clean the shared cache (output.cache_dir).",
                        no_args_is_help=True)
app.add_typer(cache_app, name="cache")
CacheArg = Annotated[Path, typer.Argument(help="The cache folder (output.cache_dir).")]


@cache_app.command("verify")
def cache_verify(cache_dir: CacheArg = Path(".curate-cache")) -> None:
    """Check every embedding shard against its checksum; damaged ones are quarantined (the
    next run re-embeds their rows). Exit 1 when something was quarantined."""
    from curate.maintenance import verify_cache

    try:
        results = verify_cache(cache_dir)
    except CurateError as err:
        fail(err)
    for folder, ok, bad in results:
        typer.echo(f"{folder}: {ok} shards ok, {bad} quarantined")
    if not results:
        typer.echo(f"{cache_dir}: no embedding shards")
    if any(bad for _, _, bad in results):
        raise typer.Exit(1)


@cache_app.command("prune")
def cache_prune(cache_dir: CacheArg = Path(".curate-cache"),
                older_than: Annotated[float, typer.Option(
                    help="Seconds: leftovers of unfinished writes younger than this may "
                         "belong to a running run and are kept.")] = 3600) -> None:
    """Delete quarantined shards and what crashed writes left behind."""
    from curate.maintenance import prune_cache

    try:
        removed, freed = prune_cache(cache_dir, older_than)
    except CurateError as err:
        fail(err)
    typer.echo(f"removed {removed} items ({freed / 1e6:.1f} MB) from {cache_dir}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
