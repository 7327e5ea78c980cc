"""Gather `curate bench` runs into benchmarks/selection.parquet and render the tables of
benchmarks/selection.md: one compact matrix per dataset (accuracy difference to random, 95%
interval over seeds) followed by the full tables `curate bench` writes.

    python benchmarks/selection_report.py benchmarks/selection-runs/*/results.parquet \
        --intro benchmarks/selection-intro.md --out benchmarks/selection.md

(benchmarks/selection.parquet itself can be one of the inputs: earlier cells plus new seeds.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curate.bench.report import markdown, plot
from curate.bench.summary import summary
from curate.store import atomic_path


def fractions_then_per_label(budget: str) -> tuple[int, float]:
    """Fractions of the pool first, then per-label counts, each ascending."""
    per_label = budget.endswith("per-label")
    return per_label, float(budget.split("-")[0] if per_label else budget.rstrip("%"))


def matrix(results: pl.DataFrame, metric: str = "accuracy") -> list[str]:
    """Per dataset: selector rows x budget columns; random's mean, the others' difference."""
    table = summary(results).filter((pl.col("metric") == metric)
                                    & (pl.col("selector") != "full"))
    lines = []
    for (dataset,), group in table.group_by(["dataset"], maintain_order=True):
        budgets = sorted(group["budget"].unique().to_list(), key=fractions_then_per_label)
        low, high = int(group["n"].min()), int(group["n"].max())
        seeds = f"{low}-{high}" if low != high else str(high)
        lines += [f"### {dataset}: {metric}, points vs random (95% CI, {seeds} seeds)", "",
                  "| selector | " + " | ".join(budgets) + " |",
                  "|---|" + "---|" * len(budgets)]
        order = ["random", "auto"] + [s for s in group["selector"].unique(maintain_order=True)
                                      if s not in ("random", "auto")]
        for selector in order:
            rows = group.filter(pl.col("selector") == selector)
            if not rows.height:
                continue
            cells = []
            for budget in budgets:
                row = rows.filter(pl.col("budget") == budget)
                if not row.height:
                    cells.append("")
                    continue
                row = row.row(0, named=True)
                if selector == "random":
                    cells.append(f"{row['mean']:.3f}")
                else:
                    ci = row["ci95"]
                    if ci != ci:  # one seed: no interval, so no claim either
                        cells.append(f"{100 * row['diff_vs_random']:+.1f} (1 seed)")
                        continue
                    mark = "**" if row["diff_vs_random"] - ci > 0 else ""
                    cells.append(f"{mark}{100 * row['diff_vs_random']:+.1f} ± {100 * ci:.1f}"
                                 f"{mark}")
            lines.append(f"| {selector} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def finetune_section(paths: list[Path]) -> list[str]:
    if not paths:
        return []
    results = pl.concat([pl.read_parquet(p) for p in paths], how="vertical_relaxed")
    return ["## Under real fine-tuning (`finetune` evaluator)", "",
            "MiniLM fine-tuned with a linear head on each selection (configs/"
            "bench-finetune.yaml: full fine-tune, max length 64, at least 50 steps), accuracy "
            "on the test part. bbc-news and the 1% column of WordNet were rerun on the code of "
            "the probe tables (5 seeds, each on its own split, on the same Intel Xeon); "
            "WordNet here is a seeded "
            "10,000-row sample (its own splits, so not comparable with the probe's WordNet "
            "rows). Its 10 per label column predates keyed randomness and validated `auto` "
            "(one seed, `auto` then ran kmeans-nearest alone), so no interval.", "",
            *matrix(results)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--intro", type=Path, required=True, help="prose above the tables")
    parser.add_argument("--finetune", nargs="*", type=Path, default=[],
                        help="results.parquet of finetune-evaluator runs (own section)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/selection.md"))
    args = parser.parse_args()
    # Runs overlap (a rerun of some cells, the ceiling of each run): one row per cell, the
    # first file's; the runs are deterministic, so which one is kept does not matter.
    results = pl.concat([pl.read_parquet(p) for p in args.results], how="vertical_relaxed"
                        ).unique(["dataset", "selector", "budget", "seed", "metric"],
                                 keep="first", maintain_order=True)
    parquet = args.out.with_suffix(".parquet")
    with atomic_path(parquet) as tmp:
        results.write_parquet(tmp)
    plot(results, args.out.with_suffix(".png"))
    text = "\n".join([args.intro.read_text().rstrip(), "", "## Every selector vs random", "",
                      "Random's row is its mean accuracy; the others are points above (+) or "
                      "below (-) random, bold where the interval is above zero.", "",
                      *matrix(results), *finetune_section(args.finetune), "## Full tables", "",
                      markdown(results, title="").lstrip("# \n")])
    with atomic_path(args.out) as tmp:
        tmp.write_text(text)
    print(f"wrote {args.out}, {parquet}")


if __name__ == "__main__":
    main()
