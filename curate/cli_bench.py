"""`curate bench`: the command and how its flags become one Config per dataset.

Registered on the app by `curate.cli`; the benchmark itself is `curate.bench`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from curate.cli_common import (
    AllowCodeOpt,
    RefreshOpt,
    SmallerOpt,
    code_opt_in,
    err_console,
    fail,
)
from curate.config_load import CONFIG_SUFFIXES, data_origin, load_config
from curate.errors import CurateError


def _bench_configs(config: str | None, data: str | None, overrides: dict,
                   target: str | None = None, allow_smaller: bool = False) -> list:
    """One Config per dataset: the config file's, or one per `--data` entry (the argument
    is one too when it is no YAML file: `curate bench DATA`)."""
    from curate.config_load import parse_config

    if config is not None and Path(config).suffix.lower() not in CONFIG_SUFFIXES:
        config, data = None, ",".join(filter(None, [config, data]))
    raw = {}
    if config is not None:
        raw = load_config(Path(config), allow_smaller).model_dump(mode="json", exclude_unset=True)
    elif data is None:
        raise CurateError("curate bench needs a CONFIG or --data", "see `curate bench --help`")
    elif allow_smaller:  # as select's --allow-smaller: the same budget rule
        raw["select"] = {"allow_smaller": True}
    raw["bench"] = {**raw.get("bench", {}), **{k: v for k, v in overrides.items()
                                              if v is not None}}
    if target is not None:
        raw["target"] = data_origin(target)
    if data is None:
        return [parse_config(raw)]
    configs = []
    for entry in data.split(","):
        columns = {k: v for k, v in raw.get("data", {}).items() if k.endswith("_column")}
        configs.append(parse_config({**raw, "data": {**data_origin(entry), **columns}}))
    return configs


def _per_label_count(spec: str) -> int:
    """`5`, `5-per-label` or `5 per label` -> 5."""
    from curate.budget import PER_LABEL

    match = PER_LABEL.match(spec) or PER_LABEL.match(f"{spec} per label")
    if not match or int(match.group(1)) == 0:
        raise CurateError(f"cannot read --synth '{spec}'", "write a count per label: 5-per-label")
    return int(match.group(1))


def bench(
    config: Annotated[str | None, typer.Argument(
        metavar="[CONFIG|DATA]", help="YAML config (its bench: section and the flags below set "
        "the grid), or a dataset as for --data.")] = None,
    data: Annotated[str | None, typer.Option(help="Dataset(s), comma-separated: a file, a "
                                                  "datasets folder, builtin:NAME or a Hub id.")
                    ] = None,
    selectors: Annotated[str | None, typer.Option(help="Comma-separated selector names "
                                                       "(default: random,kmq); parameters in "
                                                       "brackets: kmq[quality=ifd].")] = None,
    budgets: Annotated[str | None, typer.Option(help="Comma-separated budgets, e.g. "
                                                     "0.01,2%,10-per-label.")] = None,
    seeds: Annotated[int | None, typer.Option(help="Seeds per (selector, budget).")] = None,
    evaluator: Annotated[str | None, typer.Option(help="probe (logistic regression on "
                                                       "embeddings), finetune (fine-tune the "
                                                       "text encoder) or lora.")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for results.parquet, results.md, "
                                                  "results.png and results.html.")] = None,
    target_labels: Annotated[str | None, typer.Option(
        help="Target-shift bench: comma-separated labels; the target is a sample of their "
             "train rows (removed from the pool), the test part keeps only them, and "
             "tv_distance/ot_cost to the target are reported.")] = None,
    target_size: Annotated[int | None, typer.Option(help="Rows in the --target-labels "
                                                         "target (default 200).")] = None,
    target: Annotated[str | None, typer.Option(
        help="Your own target set instead (a file, datasets folder, builtin:NAME or Hub id); "
             "reports ot_cost to it.")] = None,
    synth: Annotated[str | None, typer.Option(
        help="N-per-label: also score each selection plus N synthetic rows per label "
             "(synth.generator, default mh-gan), with and without its filter.")] = None,
    allow_smaller: SmallerOpt = False,
    refresh: RefreshOpt = False,
    allow_code: AllowCodeOpt = False,
) -> None:
    """Compare selectors against random at equal budgets: train on each selection, score on a
    held-out split (each seed its own: bench.resplit), and write results.parquet, results.md,
    results.png and results.html."""
    import polars as pl

    from curate.bench import run_benchmark
    from curate.bench.specs import split_specs
    from curate.store import ArtifactCache

    overrides = {"selectors": split_specs(selectors) if selectors else None,
                 "budgets": budgets.split(",") if budgets else None, "seeds": seeds,
                 "evaluator": evaluator, "out": str(out) if out else None,
                 "target_labels": target_labels.split(",") if target_labels else None,
                 "target_size": target_size}
    try:
        overrides["synth"] = _per_label_count(synth) if synth else None
        with code_opt_in(allow_code):
            configs = _bench_configs(config, data, overrides, target, allow_smaller)
        results = pl.concat([run_benchmark(cfg, ArtifactCache(cfg.output.cache_dir), refresh)
                             for cfg in configs])
    except CurateError as err:
        fail(err)
    _exit_if_failed(results, _write_and_show(results, configs[0].bench.out))


def _write_and_show(results, out: Path) -> Path:
    """Write the outputs, print results.md and say where results.html went; results.md's
    path."""
    from curate.bench.report import write_outputs

    paths = write_outputs(results, out)
    typer.echo(paths["markdown"].read_text())
    err_console.print(f"results: {paths['html']} (also results.md, results.png and "
                      f"results.parquet in {paths['html'].parent})", highlight=False,
                      soft_wrap=True)
    return paths["markdown"]


def _exit_if_failed(results, markdown: Path) -> None:
    """Name the first failed run and exit 1 when any run failed (they are in `results`)."""
    import polars as pl

    failed = results.filter(pl.col("error").is_not_null())
    if failed.height:
        first = failed.row(0, named=True)
        n_failed = failed.select("dataset", "selector", "budget", "seed").n_unique()
        err_console.print(f"[bold red]error:[/] {n_failed} runs failed (first: "
                          f"{first['selector']} {first['budget']} seed {first['seed']}: "
                          f"{first['error']}); see {markdown}", highlight=False,
                          soft_wrap=True)
        raise typer.Exit(1)
