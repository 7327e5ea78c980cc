"""Driver memory of sharded selection (issue 12): peak RSS of a selection over 1M x 384
float32 vectors (1.5 GB) stored as shard files, each selector in a fresh process.

Plans (random, kmq, kmeans-nearest) read one shard at a time in their maps and keep only
candidates, the k-means sample and O(k x d) centroids; the baseline is the in-memory path
(`curate select` with run.executor local), which loads every vector before it selects.
The vectors are seeded Gaussian rows, L2-normalised: memory does not depend on content.
"""

from __future__ import annotations

import functools
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

SHARD_ROWS = 16_384
CASES = (("in-memory random", "random", "2%"), ("random", "random", "2%"),
         ("kmq", "kmq", "2%"), ("kmeans-nearest", "kmeans-nearest", "0.1%"))


def write_pool(folder: Path, rows: int, dim: int) -> None:
    rng = np.random.default_rng(0)
    for number, start in enumerate(range(0, rows, SHARD_ROWS)):
        block = rng.standard_normal((min(SHARD_ROWS, rows - start), dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        np.save(folder / f"{number:05d}.npy", block)


def _ids(start: int, n: int) -> np.ndarray:
    return np.array([f"row-{i:08d}" for i in range(start, start + n)])


def child(folder: Path, case: str, selector: str, spec: str) -> dict:
    """One selection in this process: its peak RSS over the RSS after imports."""
    from curate.budget import resolve_budget
    from curate.config import ClusterConfig
    from curate.exec.shards import Shard, ShardedPool
    from curate.selectors import SelectionView, make_selector

    files = sorted(folder.glob("*.npy"))
    sizes = [np.load(f, mmap_mode="r").shape[0] for f in files]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rows, dim = int(sum(sizes)), np.load(files[0], mmap_mode="r").shape[1]
    cluster = ClusterConfig(k=512, niter=10, nredo=1, max_points_per_centroid=64)
    budget = resolve_budget(spec, rows)
    import faiss  # noqa: F401  (what any selection imports: in the baseline, not the cost)
    import torch  # noqa: F401  (cluster.backend auto asks torch for CUDA)

    shards = [Shard(ids=_ids(int(s), n), vectors=functools.partial(np.load, f))
              for f, s, n in zip(files, starts, sizes, strict=True)]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if case.startswith("in-memory"):
        view = SelectionView(ids=np.concatenate([s.ids for s in shards]),
                             embeddings=np.concatenate([s.load() for s in shards]),
                             hashes=np.concatenate([s.hashes for s in shards]))
        make_selector(selector).select(view, budget, 0)
    else:
        pool = ShardedPool(shards=shards, cluster=cluster, dim=dim, gather_limit=0)
        make_selector(selector).select_sharded(pool, budget, 0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    k = {"kmq": cluster.k, "kmeans-nearest": budget.total}.get(selector, 0)
    sample_rows = min(rows, k * cluster.max_points_per_centroid)
    return {"case": case, "budget": spec, "rows_selected": budget.total,
            "rss_after_imports_mb": round(before), "peak_rss_mb": round(peak),
            "sample_mb": round(sample_rows * dim * 4 / 1024**2)}


def run(rows: int = 1_000_000, dim: int = 384) -> dict:
    from benchmarks.common import measured

    result = {"rows": rows, "dim": dim, "vectors_mb": round(rows * dim * 4 / 1024**2),
              "shard_rows": SHARD_ROWS, "cases": []}
    with tempfile.TemporaryDirectory(prefix="curate-driver-") as tmp:
        write_pool(Path(tmp), rows, dim)
        for case, selector, spec in CASES:
            with measured({}) as timing:
                out = subprocess.run([sys.executable, "-m", "benchmarks.driver_memory", tmp,
                                      case, selector, spec], capture_output=True, text=True,
                                     cwd=Path(__file__).resolve().parents[1])
            if out.returncode:
                raise RuntimeError(f"{case} failed:\n{out.stderr[-3000:]}")
            figures = json.loads(out.stdout.strip().splitlines()[-1]) | timing
            result["cases"].append(figures)
            print(f"  {case} at {spec}: peak RSS {figures['peak_rss_mb']} MB "
                  f"({timing['seconds']} s)", flush=True)
    return result


def render(d: dict) -> list[str]:
    return [f"## Driver memory of sharded selection: {d['rows']:,} x {d['dim']} vectors "
            f"(issue 12)", "",
            f"{d['vectors_mb']:,} MB of float32 vectors in shard files of {d['shard_rows']:,} "
            "rows; each selection in a fresh process, no labels, k-means k=512 (64 training "
            "rows per centroid). Peak RSS is the whole process; 'after imports' is it with "
            "curate, faiss and torch imported and the ids and hashes built, before selecting.",
            "",
            "| selection | budget | rows | peak RSS (MB) | after imports (MB) | "
            "k-means sample (MB) | seconds |", "|---|---|---|---|---|---|---|",
            *(f"| {c['case']} | {c['budget']} | {c['rows_selected']:,} | {c['peak_rss_mb']:,} | "
              f"{c['rss_after_imports_mb']:,} | {c['sample_mb']} | {c['seconds']} |"
              for c in d["cases"]), ""]


if __name__ == "__main__":
    print(json.dumps(child(Path(sys.argv[1]), *sys.argv[2:5])))
