"""Peak RSS of curate's commands on a vector pool (issue 27, item 6): a fresh `curate
select`, the same select again with every stage a cache hit, and `curate report` on the run
folder, each in a fresh process, at a baseline pool and at the pool sizes asked for.

The pool is a parquet of seeded unit vectors (a 32-component Gaussian mixture) in a
`list<float32>` column, as a Hugging Face dataset writes them, with an id and a label
column; `data.vector_column` names it, so no model runs. The selector is kmq without a
quality score and without stratification, so the whole-pool cluster stage runs (a small
k-means: cluster.k 16, 10 iterations, one run) and the report has clusters to show.

A command's cost is its peak RSS above the same command's peak on the baseline pool (the
interpreter and the libraries' own share); the goals divide it by the float32 array's
size. Usage: `python benchmarks/memory.py [--rows 300000,1000000] [--out DIR]`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASELINE_ROWS = 1_000
COMMANDS = ("fresh", "cached", "report")
GOALS = {"fresh": 2.0, "cached": 1.0, "report": 1.0}  # times the array, above the baseline
CONFIG = {"cluster": {"k": 16, "niter": 10, "nredo": 1},
          "select": {"selector": "kmq", "budget": "2%", "stratify": False},
          "run": {"seed": 0, "name": "memory"}}


def write_pool(path: Path, rows: int, dim: int, block: int = 65_536) -> None:
    """The pool parquet, written a row group at a time (this process never holds it)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from benchmarks.common import mixture

    schema = pa.schema([("id", pa.string()), ("vec", pa.list_(pa.float32())),
                        ("label", pa.string())])
    with pq.ParquetWriter(path, schema) as writer:
        for number, start in enumerate(range(0, rows, block)):
            n = min(block, rows - start)
            vectors = mixture(n, dim, 32, seed=0, draw_seed=number + 1).reshape(-1)
            offsets = pa.array(np.arange(0, n * dim + 1, dim, dtype=np.int32))
            writer.write_table(pa.table({
                "id": [f"row-{i:08d}" for i in range(start, start + n)],
                "vec": pa.ListArray.from_arrays(offsets, pa.array(vectors)),
                "label": [f"c{i % 10}" for i in range(start, start + n)]}, schema=schema))


def peak_of(args: list[str]) -> tuple[float, float, str]:
    """(peak RSS in MB of 10^6 bytes, as the array's size is counted; wall seconds; stdout)
    of one command in a fresh process, from wait4. Linux counts the parent's own high-water
    mark in a child started by vfork, so this process stays small: it writes no pool and
    imports no library until the measurements are done."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(args, stdout=out, stderr=err, cwd=ROOT)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        if child.returncode:
            raise RuntimeError(f"{' '.join(args)} failed:\n{err.read().decode()[-3000:]}")
        return usage.ru_maxrss * 1024 / 1e6, seconds, out.read().decode()


def measure(rows: int, dim: int, folder: Path) -> dict:
    """Peak RSS of a fresh select, a cached one and a report on a `rows`-row pool."""
    # This checkout's curate (the working folder comes first on sys.path under -c), so a
    # copy of another commit measures that commit.
    curate = [sys.executable, "-c", "from curate.cli import main; main()"]
    pool = folder / f"pool-{rows}.parquet"
    subprocess.run([sys.executable, __file__, "--write-pool", str(pool), str(rows), str(dim)],
                   check=True, cwd=ROOT)
    config = folder / f"config-{rows}.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"path": str(pool), "vector_column": "vec", "label_column": "label"},
        "output": {"dir": str(folder / f"runs-{rows}"), "cache_dir": str(folder / f"cache-{rows}")},
        **CONFIG}))
    figures: dict = {"rows": rows, "array_mb": round(rows * dim * 4 / 1e6, 1)}
    run_dir = ""  # the fresh select's run folder, which the report rebuilds
    for command in COMMANDS:
        args = [*curate, "report", run_dir] if command == "report" else [
            *curate, "select", str(config)]
        peak, seconds, stdout = peak_of(args)
        if command != "report":
            run_dir = stdout.strip().splitlines()[-1].split()[-1]
        figures[command] = {"peak_rss_mb": round(peak), "seconds": round(seconds, 1)}
        print(f"  {rows:,} rows, {command}: peak RSS {peak:,.0f} MB ({seconds:.1f} s)",
              flush=True)
    pool.unlink()
    return figures


def run(rows: str | tuple[int, ...] = (300_000, 1_000_000), dim: int = 384) -> dict:
    sizes = tuple(int(r) for r in str(rows).split(",")) if isinstance(rows, str) else rows
    with tempfile.TemporaryDirectory(prefix="curate-memory-") as tmp:
        base = measure(BASELINE_ROWS, dim, Path(tmp))
        pools = [measure(n, dim, Path(tmp)) for n in sizes]
    for figures in pools:
        for command in COMMANDS:
            above = figures[command]["peak_rss_mb"] - base[command]["peak_rss_mb"]
            figures[command] |= {"above_baseline_mb": above,
                                 "times_array": round(above / figures["array_mb"], 2),
                                 "goal_times_array": GOALS[command],
                                 "within_goal": above <= GOALS[command] * figures["array_mb"]}
    result = {"dim": dim, "baseline": base, "pools": pools,
              "config": CONFIG, "pool_column": "list<float32>"}
    if len(pools) > 1:  # the slope between the two largest pools: planning 10M rows on paper
        small, large = pools[-2], pools[-1]
        result["bytes_per_row"] = {
            c: round((large[c]["peak_rss_mb"] - small[c]["peak_rss_mb"]) * 1e6
                     / (large["rows"] - small["rows"])) for c in COMMANDS}
    return result


def render(d: dict) -> list[str]:
    lines = [f"Peak RSS (MB) of each command in a fresh process; 'above' is above the same "
             f"command on {d['baseline']['rows']:,} rows "
             f"({', '.join(str(d['baseline'][c]['peak_rss_mb']) for c in COMMANDS)} MB).", "",
             "| rows | array (MB) | command | peak RSS | above | x array | goal | seconds |",
             "|---|---|---|---|---|---|---|---|"]
    for p in d["pools"]:
        lines += [f"| {p['rows']:,} | {p['array_mb']:,} | {c} | {p[c]['peak_rss_mb']:,} | "
                  f"{p[c]['above_baseline_mb']:,} | {p[c]['times_array']} | "
                  f"<= {p[c]['goal_times_array']}{'' if p[c]['within_goal'] else ' MISSED'} | "
                  f"{p[c]['seconds']} |" for c in COMMANDS]
    if "bytes_per_row" in d:
        lines += ["", "Growth per row (bytes, between the two largest pools): " + ", ".join(
            f"{c} {d['bytes_per_row'][c]:,}" for c in COMMANDS) + "."]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="300000,1000000", help="pool sizes, comma-separated")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--name", default="memory", help="the JSON file's name in --out")
    parser.add_argument("--write-pool", nargs=3, metavar=("PATH", "ROWS", "DIM"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_pool:
        path, rows, dim = args.write_pool
        write_pool(Path(path), int(rows), int(dim))
        return
    measured = run(args.rows)
    from benchmarks.common import machine
    from curate.store import write_json

    result = {"machine": machine(), **measured}
    write_json(args.out / f"{args.name}.json", result)
    print("\n".join(render(result)))
    missed = [f"{p['rows']:,} {c}" for p in result["pools"] for c in COMMANDS
              if not p[c]["within_goal"]]
    if missed:
        print(f"over the goal: {', '.join(missed)}")


if __name__ == "__main__":
    main()
