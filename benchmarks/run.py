"""`make bench`: speed benchmarks, written to benchmarks/results/ (JSON and README.md).

Every figure is a ratio against a baseline measured in the same run on the same data.
Selection quality is benchmarked separately by `curate bench` (benchmarks/selection.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import (
    driver_memory,
    embedding,
    kmeans,
    lm_scores,
    ot,
    run_overhead,
    scale,
    scoring,
    selection_speed,
    semdedup_speed,
    training,
)
from benchmarks.common import machine, peak_rss_mb
from benchmarks.report import write_readme
from curate.store import write_json

SECTIONS = {
    "embedding": (embedding.run, {"n_glosses": 1000, "n_articles": 100}),
    "kmeans": (kmeans.run, {"n": 20_000, "k": 64}),
    "scoring": (scoring.run, {"n": 10_000, "loop_rows": 300}),
    "lm_scores": (lm_scores.run, {"n": 20, "loop_rows": 3}),
    "ot": (ot.run, {"n": 20_000, "m": 1_000, "agreement_n": 10_000, "anchor_size": 5_000}),
    "selection": (selection_speed.run, {"n": 10_000}),
    "semdedup": (semdedup_speed.run, {"n": 5_000, "d": 64}),
    "run_overhead": (run_overhead.run, {"repeats": 1}),
    "scale": (scale.run, {"n": 200, "shard_size": 50}),
    "driver_memory": (driver_memory.run, {"rows": 40_000}),
    "training": (training.run, {"n": 24, "test_rows": 8}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections: {', '.join(SECTIONS)}")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a smoke run")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.PARAM=N",
                        help="override a size, e.g. --set embedding.n_glosses=4000 "
                             "--set kmeans.k=256 (repeatable; integers)")
    args = parser.parse_args()
    overrides: dict[str, dict[str, int]] = {}
    for item in args.set:
        target, _, value = item.partition("=")
        section, _, param = target.partition(".")
        if section not in SECTIONS or not param or not value.lstrip("-").isdigit():
            parser.error(f"--set {item}: expected SECTION.PARAM=INTEGER, SECTION in "
                         f"{', '.join(SECTIONS)}")
        overrides.setdefault(section, {})[param] = int(value)
    results = {"machine": machine(), "quick": args.quick}
    for name in args.only.split(","):
        run, quick_sizes = SECTIONS[name]
        print(f"[{name}]", flush=True)
        sizes = (quick_sizes if args.quick else {}) | overrides.get(name, {})
        results[name] = run(**sizes)
        results[name]["peak_rss_mb_so_far"] = round(peak_rss_mb())
        write_json(args.out / f"{name}.json", {"machine": results["machine"], **results[name]})
    write_readme(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
