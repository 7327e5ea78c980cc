"""A benchmark's results summarised: mean ± std over seeds per selector and budget, and
each selector's difference to `random` paired by seed, with a 95% t-interval over the
seeds."""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import stats


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


def fmt(x: float, digits: int = 4) -> str:
    return "n/a" if x != x else f"{x:.{digits}f}"


def mean_std(row: dict) -> str:
    return f"{fmt(row['mean'])} ± {fmt(row['std'])}"


def versus_random(row: dict) -> str:
    """A summary row's paired difference to random: the signed mean, ± the half-width of
    its 95% interval, 4 decimals each."""
    if row["selector"] == "random":
        return "baseline"
    return f"{row['diff_vs_random']:+.4f} ± {fmt(row['ci95'])}"
