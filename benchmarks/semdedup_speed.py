"""semdedup's near-duplicate pass (`dedup_cluster`) on 100k x 384: the blockwise version
against the point-by-point loop it replaced (issue 14), measured in the same run.

The pool is the benchmark mixture in `clusters` k-means-like groups (rows grouped by their
nearest of `clusters` random centres), so clusters hold ~100k / clusters rows each. The loop
grows one matvec per point; on clusters of 10k rows it takes minutes, so it runs on the
first `loop_clusters` clusters only and its whole-pool time is extrapolated from their
share of the pairwise work (sum of squared cluster sizes), as stated in the results.
"""

from __future__ import annotations

import numpy as np

from benchmarks.common import measured, mixture
from curate.selectors.semdedup import dedup_cluster


def dedup_cluster_loop(x: np.ndarray, centroid: np.ndarray, threshold: float
                       ) -> tuple[np.ndarray, np.ndarray]:
    """The point-by-point loop semdedup used before issue 14 (the reference)."""
    order = np.argsort(x @ centroid, kind="stable")
    kept = np.empty_like(x)
    n_kept = 0
    keep = np.zeros(len(x), dtype=bool)
    redundancy = np.full(len(x), -1.0)
    for i in order:
        if n_kept:
            redundancy[i] = float(np.max(kept[:n_kept] @ x[i]))
        if redundancy[i] <= threshold:
            keep[i] = True
            kept[n_kept] = x[i]
            n_kept += 1
    return keep, redundancy


def run(n: int = 100_000, d: int = 384, clusters: int = 10, loop_clusters: int = 2,
        threshold_percent: int = 95) -> dict:
    threshold = threshold_percent / 100
    x = mixture(n, d, components=1000)
    # 5% of the rows become near copies of others (cosine ~0.99), so both the drops and the
    # blocks' in-block conflicts are exercised
    rng = np.random.default_rng(2)
    copies = rng.choice(n, size=n // 20, replace=False)
    x[copies] = x[rng.integers(n, size=len(copies))] + rng.normal(
        scale=0.1 / np.sqrt(d), size=(len(copies), d)).astype(np.float32)
    x[copies] /= np.linalg.norm(x[copies], axis=1, keepdims=True)
    centres = mixture(clusters, d, components=clusters, seed=1)
    assignment = np.argmax(x @ centres.T, axis=1)
    groups = [np.flatnonzero(assignment == c) for c in range(clusters)]
    groups = [g for g in groups if len(g)]
    centroids = [x[g].mean(0) / np.linalg.norm(x[g].mean(0)) for g in groups]
    sizes = np.array([len(g) for g in groups])
    with measured({}) as blocked:
        kept = [dedup_cluster(x[g], c, threshold) for g, c in zip(groups, centroids,
                                                                  strict=True)]
    print(f"  blockwise, all {len(groups)} clusters: {blocked['seconds']:.1f} s", flush=True)
    sample = list(range(min(loop_clusters, len(groups))))
    with measured({}) as loop:
        reference = [dedup_cluster_loop(x[groups[i]], centroids[i], threshold) for i in sample]
    same = all(np.array_equal(kept[i][0], reference[j][0]) for j, i in enumerate(sample))
    share = float((sizes[sample] ** 2).sum() / (sizes ** 2).sum())
    loop_total = loop["seconds"] / share
    with measured({}) as blocked_sample:
        for i in sample:
            dedup_cluster(x[groups[i]], centroids[i], threshold)
    print(f"  loop, {len(sample)} clusters ({sizes[sample].sum()} rows): "
          f"{loop['seconds']:.1f} s (blockwise {blocked_sample['seconds']:.2f} s), "
          f"extrapolated to all: {loop_total:.0f} s; same keep mask: {same}", flush=True)
    return {"n": n, "d": d, "threshold": threshold, "clusters": len(groups),
            "cluster_sizes": sizes.tolist(), "kept_rows": int(sum(k[0].sum() for k in kept)),
            "blockwise": blocked, "loop_sample": {"clusters": len(sample),
                                                  "rows": int(sizes[sample].sum()),
                                                  "pair_work_share": round(share, 4), **loop},
            "blockwise_same_sample_seconds": blocked_sample["seconds"],
            "loop_extrapolated_seconds": round(loop_total, 1),
            "speedup_same_clusters": round(loop["seconds"] / blocked_sample["seconds"], 1),
            "speedup_extrapolated": round(loop_total / blocked["seconds"], 1),
            "same_keep_mask": same}


def render(d: dict) -> list[str]:
    sample = d["loop_sample"]
    return [f"## semdedup near-duplicate pass ({d['n']:,} x {d['d']}, {d['clusters']} clusters, "
            f"cosine > {d['threshold']})", "",
            f"- blockwise `dedup_cluster`, all clusters: {d['blockwise']['seconds']} s "
            f"({d['kept_rows']:,} rows kept)",
            f"- the former point-by-point loop on {sample['clusters']} clusters "
            f"({sample['rows']:,} rows, {sample['pair_work_share']:.0%} of the pairwise work): "
            f"{sample['seconds']} s vs {d['blockwise_same_sample_seconds']} s blockwise "
            f"({d['speedup_same_clusters']}x); extrapolated to all clusters "
            f"{d['loop_extrapolated_seconds']} s ({d['speedup_extrapolated']}x)",
            f"- same keep mask as the loop: {d['same_keep_mask']}", ""]
