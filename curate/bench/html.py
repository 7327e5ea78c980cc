"""`results.html` of `curate bench`: one self-contained page (inline PNGs, no network).

Per dataset and metric, a grid of small panels, one per budget: each selector's mean score
over seeds with ± one standard deviation, against random's mean and spread as a band. A
dot is green when the paired 95% interval of its difference to random (the `vs random`
column of results.md) lies on the better side, red on the worse side, blue when it includes
zero. A grid, not one long row: past three or four panels a row is unreadable.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from curate.bench.evaluators import metric_direction
from curate.bench.summary import (
    ALL_ROWS,
    all_rows_note,
    better,
    choices,
    heading,
    mean_std,
    scale,
    shown,
    summary,
    versus_random,
)
from curate.report.page import png_uri, pyplot, render, write_page

TEMPLATE = "results.html.j2"
MAX_COLUMNS = 4  # panels per row of a dataset's grid
COLOURS = {"better": "tab:green", "worse": "tab:red", "unclear": "tab:blue",
           "baseline": "black"}
LABELS = {"better": "better than random (95% CI)", "worse": "worse than random (95% CI)",
          "unclear": "interval includes random", "baseline": "random"}


def verdict(row: dict, direction: int) -> str:
    """better, worse or unclear against random (paired 95% interval), or baseline."""
    if row["selector"] == "random":
        return "baseline"
    diff, half = row["diff_vs_random"] * direction, row["ci95"]
    if not np.isfinite(diff) or not np.isfinite(half):  # one seed: no interval
        return "unclear"
    return "better" if diff - half > 0 else "worse" if diff + half < 0 else "unclear"


def budget_order(table: pl.DataFrame) -> list[str]:
    """Budgets by the rows they select, fewest first (all train rows' `all` left out)."""
    sizes = (table.filter(pl.col("selector") != "full").group_by("budget")
             .agg(pl.col("rows").min()).sort("rows", "budget"))
    return sizes["budget"].to_list()


def selector_order(table: pl.DataFrame) -> list[str]:
    """Selectors as they were run, random first (the baseline row on top of each panel)."""
    names = table.filter(pl.col("selector") != "full")["selector"].unique(
        maintain_order=True).to_list()
    return sorted(names, key=lambda name: name != "random")  # stable: the rest keep order


def panel_grid(table: pl.DataFrame, metric: str, order: list[str] | None = None) -> str:
    """The grid of one dataset and metric: a panel per budget, a row per selector (in
    `order`, the same in every dataset's grid)."""
    plt = pyplot()
    direction = metric_direction(metric)
    runs = table.filter(pl.col("selector") != "full")
    budgets = budget_order(runs)
    present = set(runs["selector"])
    names = [n for n in order or selector_order(runs) if n in present]
    y = {name: i for i, name in enumerate(names)}
    columns = min(MAX_COLUMNS, len(budgets))
    rows = -(-len(budgets) // columns)
    fig, axes = plt.subplots(rows, columns, squeeze=False, sharey=True,
                             figsize=(2.6 * columns + 1.2, (0.26 * len(names) + 0.9) * rows))
    for ax in axes.flat[len(budgets):]:
        ax.set_visible(False)
    for ax, budget in zip(axes.flat, budgets, strict=False):
        part = runs.filter(pl.col("budget") == budget)
        for row in part.iter_rows(named=True):
            mean, std = row["mean"] * scale(metric), row["std"] * scale(metric)
            if row["selector"] == "random":  # the band every other dot is read against
                ax.axvspan(mean - std, mean + std, color="0.88", zorder=0)
                ax.axvline(mean, color="black", linestyle="--", linewidth=0.8)
            ax.errorbar(mean, y[row["selector"]], xerr=std, fmt="o",
                        markersize=4, capsize=2, linewidth=1,
                        color=COLOURS[verdict(row, direction)])
        ax.set_title(f"{budget} · {int(part['rows'].min()):,} rows", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(axis="x", alpha=0.3)
    axes[0, 0].set_yticks(range(len(names)), names)
    axes[0, 0].set_ylim(len(names) - 0.5, -0.5)  # random on top
    fig.supxlabel(f"{heading(metric)}; mean ± std over seeds", fontsize=9)
    handles = [plt.Line2D([], [], marker="o", linestyle="", color=COLOURS[k], label=LABELS[k])
               for k in ("better", "worse", "unclear")]
    handles.append(plt.Rectangle((0, 0), 1, 1, color="0.88", label="random mean ± std"))
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4,
               fontsize=8, frameon=False)
    fig.tight_layout()
    return png_uri(fig, dpi=100)


def results_context(results: pl.DataFrame) -> dict:
    """What results.html.j2 shows: a section per dataset, a grid and a table per metric.

    All train rows (the `full` runs) is a row of each table, never called a ceiling: the
    row says whether a subset beats it, and the caption repeats it.
    A choosing selector's row (auto) names what it chose per seed."""
    table = summary(results)
    selectors = selector_order(table)
    chosen = {(r["dataset"], r["selector"], r["budget"]): r["chose"] for r in choices(table)}
    datasets = []
    for (dataset,), by_dataset in table.group_by(["dataset"], maintain_order=True):
        metrics = []
        for (metric,), group in by_dataset.group_by(["metric"], maintain_order=True):
            direction = metric_direction(metric)
            runs = group.filter(pl.col("selector") != "full")
            budgets = budget_order(runs)
            rows = [{**r, "mean_std": mean_std(r), "versus": versus_random(r),
                     "verdict": verdict(r, direction),
                     "selector": _with_choice(r, chosen.get((dataset, r["selector"],
                                                              r["budget"])))}
                    for r in sorted(runs.iter_rows(named=True), key=lambda r: (
                        budgets.index(r["budget"]), selectors.index(r["selector"])))]
            metrics.append({
                "name": metric, "better": better(metric),
                "grid": panel_grid(group, metric, selectors) if runs.height else None,
                "rows": rows + _all_rows(group),
                "all_rows_note": all_rows_note(group)})
        datasets.append({"name": dataset, "metrics": metrics})
    failed = results.filter(pl.col("error").is_not_null()).unique(
        ["dataset", "selector", "budget", "seed"], maintain_order=True)
    # Datasets may have had different seed counts (a slow one fewer): give the range.
    counts = sorted(set(table.filter(pl.col("selector") != "full")["n"])) or [0]
    seeds = str(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
    return {"datasets": datasets, "failures": failed.to_dicts(), "selectors": selectors,
            "seeds": seeds, "choices": choices(table)}


def _with_choice(row: dict, chose: str | None) -> str:
    return f"{row['selector']} (chose {chose})" if chose else row["selector"]


def _all_rows(group: pl.DataFrame) -> list[dict]:
    """All train rows as a table row: its mean (over splits), and in the `vs random` cell
    whether every subset scores below it."""
    full = group.filter(pl.col("selector") == "full")
    if not full.height:
        return []
    row = full.row(0, named=True)
    splits = f" (mean over {row['n']} splits)" if row["n"] > 1 else ""
    return [{**row, "budget": "all", "selector": ALL_ROWS, "verdict": "baseline",
             "mean_std": shown(row["mean"], row["metric"]) + splits,
             "versus": all_rows_note(group)}]


def write_results_html(results: pl.DataFrame, path: Path) -> Path:
    """Write the benchmark's results.html (atomically); returns its path."""
    return write_page(path, render(TEMPLATE, **results_context(results)))
