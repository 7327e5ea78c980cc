"""Write a benchmark's results: parquet, a markdown summary, a plot and results.html
(the numbers come from `curate.bench.summary`)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from curate.bench.summary import (
    ALL_ROWS,
    all_rows_note,
    choices,
    heading,
    mean_std,
    scale,
    shown,
    summary,
    versus_random,
)
from curate.store import atomic_path


def markdown(results: pl.DataFrame, title: str = "Selection benchmark") -> str:
    table = summary(results)
    lines = [f"# {title}", ""]
    for (dataset, metric), group in table.group_by(["dataset", "metric"], maintain_order=True):
        lines += [f"## {dataset}: {heading(metric)}", "",
                  "| selector | budget | rows | mean ± std | vs random (95% CI) | seeds |",
                  "|---|---|---|---|---|---|"]
        full = group.filter(pl.col("selector") == "full")
        for row in group.filter(pl.col("selector") != "full").iter_rows(named=True):
            lines.append(f"| {row['selector']} | {row['budget']} | {row['rows']} | "
                         f"{mean_std(row)} | {versus_random(row)} | {row['n']} |")
        if full.height:
            row = full.row(0, named=True)
            lines += [f"| {ALL_ROWS} | all | {row['rows']} | "
                      f"{mean_std(row) if row['n'] > 1 else shown(row['mean'], metric)} | | "
                      f"{row['n']} |", "", f"{ALL_ROWS.capitalize()}: {all_rows_note(group)}."]
        lines.append("")
    lines += _choices(table)
    failures = results.filter(pl.col("error").is_not_null())
    if failures.height:
        lines += ["## Failed runs", "", "| dataset | selector | budget | seed | error |",
                  "|---|---|---|---|---|"]
        for row in failures.unique(["dataset", "selector", "budget", "seed"],
                                   maintain_order=True).iter_rows(named=True):
            lines.append(f"| {row['dataset']} | {row['selector']} | {row['budget']} | "
                         f"{row['seed']} | {row['error']} |")
    return "\n".join(lines) + "\n"


def _choices(table: pl.DataFrame) -> list[str]:
    rows = choices(table)
    if not rows:
        return []
    return ["## What auto chose", "", "| dataset | selector | budget | chose (per seed) |",
            "|---|---|---|---|",
            *(f"| {r['dataset']} | {r['selector']} | {r['budget']} | {r['chose']} |"
              for r in rows), ""]


def plot(results: pl.DataFrame, path: Path) -> None:
    """Metric vs selected rows (log x), a line per selector; random dashed, full-data dotted."""
    from curate.report.page import pyplot

    plt = pyplot()
    table = summary(results)
    # headline metrics only: a per-label breakdown (loss[gcide]...) stays in the tables,
    # else a lora grid draws one unreadable panel per label
    panels = table.filter(~pl.col("metric").str.contains("[", literal=True)).select(
        "dataset", "metric").unique(maintain_order=True).rows()
    # a grid, a row per dataset: one long row of panels is unreadable past three
    columns = max(1, len({metric for _, metric in panels}))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(7 * columns, 4 * rows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    # one colour per selector in every panel, whatever order each dataset's runs came in
    others = sorted(set(table["selector"]) - {"full", "random"})
    colours = {name: plt.get_cmap("tab10" if len(others) <= 10 else "tab20")(i)
               for i, name in enumerate(others)}
    for ax, (dataset, metric) in zip(axes.flat, panels, strict=False):
        group = table.filter((pl.col("dataset") == dataset) & (pl.col("metric") == metric))
        for (selector,), lines in group.filter(pl.col("selector") != "full").sort(
                "selector").group_by(["selector"], maintain_order=True):
            lines = lines.sort("rows")
            style = ({"linestyle": "--", "color": "black"} if selector == "random"
                     else {"color": colours[selector]})
            if selector == "auto":  # on top: it often picks what another line shows
                style |= {"linewidth": 3, "alpha": 0.6, "zorder": 3}
            ax.errorbar(lines["rows"], lines["mean"] * scale(metric),
                        yerr=lines["std"] * scale(metric), marker="o", capsize=3,
                        label=selector, **style)
        full = group.filter(pl.col("selector") == "full")
        if full.height:
            ax.axhline(full["mean"][0] * scale(metric), linestyle=":", color="grey",
                       label=ALL_ROWS)
        ax.set(xscale="log", xlabel="selected rows", ylabel=heading(metric), title=dataset)
        # beside the panel, never on its lines
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def write_outputs(results: pl.DataFrame, out: Path) -> dict[str, Path]:
    from curate.bench.html import write_results_html  # Jinja2 and the page helpers

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"parquet": out / "results.parquet", "markdown": out / "results.md",
             "plot": out / "results.png", "html": out / "results.html"}
    with atomic_path(paths["parquet"]) as tmp:
        results.write_parquet(tmp)
    with atomic_path(paths["markdown"]) as tmp:
        tmp.write_text(markdown(results))
    plot(results, paths["plot"])
    write_results_html(results, paths["html"])
    return paths
