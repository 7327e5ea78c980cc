"""Issue 25's two questions on `curate bench` runs of configs/bench-range.yaml: at few-shot
budgets, does a selector beat the better of `typiclust` and `kmeans-nearest` (the better by
mean over the seeds, per dataset and budget), and at 20-50% does it beat `random`? Paired
by seed (each seed its own split), mean difference in accuracy points with its 95%
t-interval; bold where the interval is above zero.

    python benchmarks/selection_range.py benchmarks/selection-range/*/results.parquet \
        --out benchmarks/selection-range.md

A later file's cells replace an earlier one's (the same dataset, selector, budget and seed).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curate.store import atomic_path

ANCHORS = ("typiclust", "kmeans-nearest")
LARGE = ("20%", "30%", "50%")


def paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean of a - b in points and the half-width of its 95% t-interval."""
    from scipy import stats

    d = 100 * (a - b)
    if len(d) < 2:
        return float(d.mean()), float("nan")
    return float(d.mean()), float(stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1)
                                  / np.sqrt(len(d)))


def budget_order(budget: str) -> tuple[int, float]:
    """Rows per label first, then fractions, each ascending ("1 per label", "1-per-label",
    "2%"), whatever order the result files came in."""
    number = float(re.match(r"[\d.]+", budget).group())
    return (0 if "per" in budget else 1 if budget.endswith("%") else 2), number


def cell(mean: float, half: float) -> str:
    bold = "**" if mean - half > 0 else ""
    return f"{bold}{mean:+.1f} ± {half:.1f}{bold}"


def tables(results: pl.DataFrame, metric: str = "accuracy") -> list[str]:
    results = results.filter((pl.col("metric") == metric) & (pl.col("selector") != "full"))
    lines = []
    for (dataset,), data in results.group_by(["dataset"], maintain_order=True):
        budgets = sorted(data["budget"].unique().to_list(), key=budget_order)
        selectors = [s for s in data["selector"].unique(maintain_order=True).to_list()
                     if s != "random"]
        seeds = data["seed"].n_unique()
        lines += [f"## {dataset}: {metric} ({seeds} seeds)", "",
                  "Few-shot budgets: points vs the better anchor (named); 20-50%: points vs "
                  "random.", "", "| selector | " + " | ".join(budgets) + " |",
                  "|---|" + "---|" * len(budgets)]
        value = {(r["selector"], r["budget"]): r["values"] for r in data.sort("seed").group_by(
            ["selector", "budget"]).agg(pl.col("value").alias("values")).iter_rows(named=True)}
        anchor = {b: max(ANCHORS, key=lambda s, b=b: np.mean(value.get((s, b), [-1])))
                  for b in budgets}
        lines.append("| (anchor) | " + " | ".join(
            "random" if b in LARGE else anchor[b] for b in budgets) + " |")
        for selector in selectors:
            cells = []
            for budget in budgets:
                base = "random" if budget in LARGE else anchor[budget]
                mine, theirs = value.get((selector, budget)), value.get((base, budget))
                if mine is None or theirs is None or selector == base:
                    cells.append("")
                    continue
                cells.append(cell(*paired(np.array(mine), np.array(theirs))))
            lines.append(f"| {selector} | " + " | ".join(cells) + " |")
        lines += ["", *choices(data, budgets), ""]
    return lines


def choices(data: pl.DataFrame, budgets: list[str]) -> list[str]:
    """What `auto` chose on how many seeds, per budget (none without an auto column)."""
    auto = data.filter(pl.col("selector") == "auto")
    if auto.is_empty() or "choice" not in auto.columns:
        return []
    parts = []
    for budget in budgets:
        counts = auto.filter(pl.col("budget") == budget)["choice"].value_counts(sort=True)
        parts.append(f"{budget}: " + ", ".join(f"{name} {n}" for name, n in counts.iter_rows()))
    return ["auto chose (seeds): " + "; ".join(parts) + "."]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/selection-range.md"))
    parser.add_argument("--intro", type=Path)
    args = parser.parse_args()
    # a later file's (dataset, selector, budget, seed) replaces an earlier one's: a rerun of
    # some cells (auto after a rule change) is given after the run it updates
    results = pl.concat([pl.read_parquet(p) for p in args.results], how="diagonal_relaxed"
                        ).unique(["dataset", "selector", "budget", "seed", "metric"],
                                 keep="last", maintain_order=True)
    metrics = [m for m in ("accuracy", "accuracy_tuned_c") if m in set(results["metric"])]
    text = (args.intro.read_text() if args.intro else "") + "\n".join(
        line for metric in metrics for line in tables(results, metric)) + "\n"
    with atomic_path(args.out) as tmp:
        tmp.write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
