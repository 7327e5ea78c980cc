"""Write a benchmark's results: parquet, a markdown summary, a plot and results.html.

The summary gives mean ± std over seeds per selector and budget, and each selector's
difference to `random` paired by seed, with a 95% t-interval over the seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
from scipy import stats

from curate.bench.evaluators import METRIC_DIRECTION
from curate.store import atomic_path


def paired_difference(values: np.ndarray, baseline: np.ndarray) -> tuple[float, float]:
    """Mean of values - baseline (paired by seed) and the half-width of its 95% interval."""
    diff = values - baseline
    if len(diff) < 2:
        return float(diff.mean()), float("nan")
    half = stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff))
    return float(diff.mean()), float(half)


def summary(results: pl.DataFrame) -> pl.DataFrame:
    """One row per (dataset, metric, selector, budget) with mean, std, n and diff to random."""
    ok = results.filter(pl.col("error").is_null())
    rows = []
    for (dataset, metric, selector, budget), group in ok.group_by(
            ["dataset", "metric", "selector", "budget"], maintain_order=True):
        values = group.sort("seed")
        baseline = ok.filter((pl.col("dataset") == dataset) & (pl.col("metric") == metric)
                             & (pl.col("selector") == "random") & (pl.col("budget") == budget))
        paired = values.join(baseline.select("seed", base="value"), on="seed")
        diff, half = paired_difference(paired["value"].to_numpy(), paired["base"].to_numpy()) \
            if selector not in ("random", "full") and paired.height else (float("nan"),) * 2
        v = values["value"].to_numpy()
        rows.append({"dataset": dataset, "metric": metric, "selector": selector,
                     "budget": budget, "rows": int(values["rows"][0]), "n": len(v),
                     "mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                     "diff_vs_random": diff, "ci95": half})
    return pl.DataFrame(rows)


def _fmt(x: float, digits: int = 4) -> str:
    return "n/a" if x != x else f"{x:.{digits}f}"


def mean_std(row: dict) -> str:
    return f"{_fmt(row['mean'])} ± {_fmt(row['std'])}"


def versus_random(row: dict) -> str:
    """A summary row's paired difference to random, as `+0.0123 ± 0.0045` (95% CI)."""
    if row["selector"] == "random":
        return "baseline"
    return f"{row['diff_vs_random']:+.4f} ± {_fmt(row['ci95'])}"


def markdown(results: pl.DataFrame, title: str = "Selection benchmark") -> str:
    table = summary(results)
    lines = [f"# {title}", ""]
    for (dataset, metric), group in table.group_by(["dataset", "metric"], maintain_order=True):
        better = "higher" if METRIC_DIRECTION.get(metric, 1) > 0 else "lower"
        lines += [f"## {dataset}: {metric} ({better} is better)", "",
                  "| selector | budget | rows | mean ± std | vs random (95% CI) | seeds |",
                  "|---|---|---|---|---|---|"]
        full = group.filter(pl.col("selector") == "full")
        for row in group.filter(pl.col("selector") != "full").iter_rows(named=True):
            lines.append(f"| {row['selector']} | {row['budget']} | {row['rows']} | "
                         f"{mean_std(row)} | {versus_random(row)} | {row['n']} |")
        if full.height:
            row = full.row(0, named=True)
            lines.append(f"| full train set (ceiling) | all | {row['rows']} | "
                         f"{mean_std(row) if row['n'] > 1 else _fmt(row['mean'])} | | "
                         f"{row['n']} |")
        lines.append("")
    failures = results.filter(pl.col("error").is_not_null())
    if failures.height:
        lines += ["## Failed runs", "", "| dataset | selector | budget | seed | error |",
                  "|---|---|---|---|---|"]
        for row in failures.unique(["dataset", "selector", "budget", "seed"],
                                   maintain_order=True).iter_rows(named=True):
            lines.append(f"| {row['dataset']} | {row['selector']} | {row['budget']} | "
                         f"{row['seed']} | {row['error']} |")
    return "\n".join(lines) + "\n"


def plot(results: pl.DataFrame, path: Path) -> None:
    """Metric vs selected rows (log x), a line per selector; random dashed, full-data dotted."""
    from curate.report.page import pyplot

    plt = pyplot()
    table = summary(results)
    panels = table.select("dataset", "metric").unique(maintain_order=True).rows()
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
            ax.errorbar(lines["rows"], lines["mean"], yerr=lines["std"], marker="o",
                        capsize=3, label=selector, **style)
        full = group.filter(pl.col("selector") == "full")
        if full.height:
            ax.axhline(full["mean"][0], linestyle=":", color="grey", label="full train set")
        ax.set(xscale="log", xlabel="selected rows", ylabel=metric, title=dataset)
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
