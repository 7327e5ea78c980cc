"""A benchmark's results summarised: mean ± std over seeds per selector and budget, and
each selector's difference to `random` paired by seed, with a 95% t-interval over the
seeds.

Fractions (accuracy, macro-F1, ROUGE-L) are shown in points (x100, one decimal), as
everywhere else in curate's pages; losses, perplexity and distances as they are. The
tables keep the raw values (results.parquet)."""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import stats

from curate.bench.evaluators import metric_direction

POINTS = frozenset({"accuracy", "macro_f1", "rouge_l"})
ALL_ROWS = "all train rows"  # the `full` runs: a probe on every train row of the split


def paired_difference(values: np.ndarray, baseline: np.ndarray) -> tuple[float, float]:
    """Mean of values - baseline (paired by seed) and the half-width of its 95% interval."""
    diff = values - baseline
    if len(diff) < 2:
        return float(diff.mean()), float("nan")
    half = stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff))
    return float(diff.mean()), float(half)


def summary(results: pl.DataFrame) -> pl.DataFrame:
    """One row per (dataset, metric, selector, budget) with mean, std, n, diff to random
    and, for a selector that chooses (auto), what it chose per seed (`chose`)."""
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
                     "diff_vs_random": diff, "ci95": half, "chose": chose(values)})
    return pl.DataFrame(rows)


def chose(runs: pl.DataFrame) -> str:
    """What a choosing selector (auto) picked, per seed: `kmeans-nearest (seeds 0, 2),
    typiclust (seed 1)`; empty for the others (and for results from before the column)."""
    if "choice" not in runs.columns:
        return ""
    seeds: dict[str, list[int]] = {}
    for seed, choice in runs.select("seed", "choice").unique().sort("seed").iter_rows():
        if choice:
            seeds.setdefault(choice, []).append(seed)
    return ", ".join(f"{name} (seed{'s' if len(s) > 1 else ''} {', '.join(map(str, s))})"
                     for name, s in seeds.items())


def shown(x: float, metric: str, signed: bool = False) -> str:
    """A value as the pages show it: points for fractions, else 4 decimals."""
    if x != x:
        return "n/a"
    sign = "+" if signed else ""
    return f"{100 * x:{sign}.1f}" if scale(metric) == 100 else f"{x:{sign}.4f}"


def scale(metric: str) -> int:
    """100 for a fraction shown in points (`loss[gcide]` goes as `loss`), else 1."""
    return 100 if metric.split("[", 1)[0] in POINTS else 1


def better(metric: str) -> str:
    """`points, higher` (is better), or `lower` for a loss."""
    direction = "higher" if metric_direction(metric) > 0 else "lower"
    return f"points, {direction}" if scale(metric) == 100 else direction


def heading(metric: str) -> str:
    """`macro_f1 (points, higher is better)`."""
    return f"{metric} ({better(metric)} is better)"


def mean_std(row: dict) -> str:
    return f"{shown(row['mean'], row['metric'])} ± {shown(row['std'], row['metric'])}"


def versus_random(row: dict) -> str:
    """A summary row's paired difference to random: the signed mean, ± the half-width of
    its 95% interval."""
    if row["selector"] == "random":
        return "baseline"
    return (f"{shown(row['diff_vs_random'], row['metric'], signed=True)} ± "
            f"{shown(row['ci95'], row['metric'])}")


def above_all_rows(group: pl.DataFrame) -> list[dict]:
    """The subsets of one dataset and metric whose mean beats all train rows' (`full`),
    best first: when there are any, all train rows is no ceiling for that metric (a
    per-label budget evens out the labels that the train set holds unevenly, which
    macro-F1 rewards)."""
    full = group.filter(pl.col("selector") == "full")
    if not full.height:
        return []
    direction = metric_direction(group["metric"][0])
    beaten = group.filter((pl.col("selector") != "full")
                          & (direction * (pl.col("mean") - full["mean"][0]) > 0))
    return beaten.sort("mean", descending=direction > 0).to_dicts()


def all_rows_note(group: pl.DataFrame) -> str:
    """One sentence on all train rows against the subsets of one dataset and metric."""
    beaten = above_all_rows(group)
    if not beaten:
        return "every subset scores below it"
    best = beaten[0]
    return (f"not a ceiling here: {len(beaten)} subset{'s' if len(beaten) > 1 else ''} "
            f"score{'' if len(beaten) > 1 else 's'} higher (best: {best['selector']} at "
            f"{best['budget']}, {shown(best['mean'], best['metric'])})")


def choices(table: pl.DataFrame) -> list[dict]:
    """What each choosing selector (auto) chose per seed, a row per (dataset, selector,
    budget) (its metrics agree: one choice per run)."""
    if "chose" not in table.columns:
        return []
    return (table.filter(pl.col("chose") != "")
            .unique(["dataset", "selector", "budget"], maintain_order=True)
            .select("dataset", "selector", "budget", "chose").to_dicts())
