"""Selection quality on cheaper embeddings (issue 15): `auto` and random chose on MiniLM
(bf16), on int8 MiniLM and on static embeddings; the probe always trains and scores on the
same MiniLM embeddings (`bench.probe_embed`), so only the selection's embeddings differ.

    python benchmarks/embedding_selection.py benchmarks/selection-embeddings \
        --out benchmarks/selection-embeddings.md

Reads `<folder>/<embedding>-<dataset>/results.parquet` as `curate bench` wrote them
(configs: benchmarks/selection-embeddings/configs/).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import polars as pl
from scipy import stats

EMBEDDINGS = ("minilm", "int8", "static")


def _values(group: pl.DataFrame, embedding: str, selector: str) -> pl.DataFrame:
    return group.filter((pl.col("embedding") == embedding)
                        & (pl.col("selector") == selector)).sort("seed")


def _interval(values: np.ndarray) -> str:
    if len(values) < 2:
        return f"{100 * values.mean():+.1f}"
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    return f"{100 * values.mean():+.1f} ± {100 * half:.1f}"


def table(folder: Path, metric: str = "accuracy") -> list[str]:
    frames = []
    for path in sorted(folder.glob("*/results.parquet")):
        embedding = path.parent.name.split("-", 1)[0]
        frames.append(pl.read_parquet(path).with_columns(pl.lit(embedding).alias("embedding")))
    results = pl.concat(frames).filter(pl.col("metric") == metric)
    lines = [f"| dataset | budget | selection embeddings | seeds | auto {metric} | auto vs "
             "random (points, 95% CI) | vs auto on MiniLM (points, paired, 95% CI) |",
             "|---|---|---|---|---|---|---|"]
    for (dataset, budget), group in results.group_by(["dataset", "budget"], maintain_order=True):
        base = _values(group, "minilm", "auto")
        for embedding in (e for e in EMBEDDINGS if len(_values(group, e, "auto"))):
            auto, random = _values(group, embedding, "auto"), _values(group, embedding, "random")
            paired = auto.join(random, on="seed", suffix="_r")
            versus = auto.join(base, on="seed", suffix="_b")
            lines.append(
                f"| {dataset} | {budget} | {embedding} | {len(auto)} | "
                f"{100 * auto['value'].mean():.1f} ± {100 * auto['value'].std():.1f} | "
                f"{_interval((paired['value'] - paired['value_r']).to_numpy())} | "
                + ("baseline" if embedding == "minilm" else
                   _interval((versus["value"] - versus["value_b"]).to_numpy())) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    text = "\n".join(table(args.folder)) + "\n"
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
