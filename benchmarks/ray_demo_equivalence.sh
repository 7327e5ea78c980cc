#!/bin/bash
# run.executor ray against local on configs/demo.yaml (issue 12): for each selector, both
# select with a shared cache (the executor is in no key) and the two selection.parquet files
# must hold the same ids, in the same order, with the same reasons. ot gets a target set.
# Usage: benchmarks/ray_demo_equivalence.sh [out folder]   (~20 min on 2 cores, embedding first)
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
OUT=${1:-/tmp/curate-ray-equivalence}
TARGET='target={source: builtin:wordnet, sample: 5000, labels: [noun.food, noun.plant]}'
mkdir -p "$OUT"
for sel in random kmq kmeans-nearest typiclust semdedup dealrec ot; do
  extra=()
  [ "$sel" = ot ] && extra=(--set "$TARGET")
  for ex in local ray; do
    start=$(date +%s)
    .venv/bin/curate select configs/demo.yaml --set select.selector="$sel" \
      --set run.executor="$ex" --set output.cache_dir="$OUT/cache" --set run.name="$sel-$ex" \
      "${extra[@]}" --out "$OUT/$ex" > "$OUT/$sel-$ex.log" 2>&1
    echo "$sel $ex $(( $(date +%s) - start )) s"
  done
  .venv/bin/python - "$OUT" "$sel" <<'PY'
import glob, sys
import polars as pl
out, sel = sys.argv[1:]
a, b = (pl.read_parquet(sorted(glob.glob(f"{out}/{ex}/{sel}-{ex}/*/selection.parquet"))[-1])
        for ex in ("local", "ray"))
print(sel, "rows", a.height, b.height, "same ids and order:", a["id"].to_list() == b["id"].to_list(),
      "same reasons:", a["reason"].to_list() == b["reason"].to_list())
PY
done
