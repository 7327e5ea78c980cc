"""Selection time of the few-shot selectors on a 100k x 384 pool at 2%, against random
and kMQ (the previous default) in the same run. ccs, uherding and window compute the
difficulty scores they read (cross-fitted probe) within their time; without labels the
probe learns the k-means clusters.

Clustering uses the settings of configs/bench.yaml (25 iterations, one run, at most 64
training points per centroid); every selector starts from a fresh view, so its time
includes the clusterings it asks for (typiclust: k = min(B, 500); kMQ: k = 512).
"""

from __future__ import annotations

import numpy as np

from benchmarks.common import measured, mixture
from curate.budget import resolve_budget
from curate.config import ClusterConfig
from curate.index import kmeans_clusterer
from curate.selectors import SelectionView, make_selector

CLUSTERS = ClusterConfig(k=512, niter=25, nredo=1, max_points_per_centroid=64)


def time_selector(name: str, x: np.ndarray, labels: np.ndarray | None, budget: str) -> dict:
    view = SelectionView(ids=np.arange(len(x)).astype(str), embeddings=x, labels=labels,
                         cluster_fn=kmeans_clusterer(CLUSTERS))
    spec = resolve_budget(budget, len(x), labels, stratify="auto")
    selector = make_selector(name)
    with measured({}) as timing:
        table = selector.select(view, spec, seed=0)
    assert table.height == spec.total
    choice = getattr(selector, "choice_", None)
    kind = "unlabelled" if labels is None else "labelled"
    print(f"  {name}{f' ({choice})' if choice else ''}, {kind}: {timing['seconds']:.1f} s",
          flush=True)
    return {**timing, "choice": choice}


def run(n: int = 100_000, d: int = 384, labels: int = 45, budget_percent: int = 2) -> dict:
    x = mixture(n, d, components=1000)
    # labels: a coarse grouping of the mixture's components, as lexical categories group
    # WordNet glosses
    names = (np.argmax(x @ mixture(labels, d, components=labels, seed=1).T, axis=1)
             .astype(str))
    budget = f"{budget_percent}%"
    results = {"n": n, "d": d, "labels": labels, "budget": budget, "unlabelled": {},
               "labelled": {}}
    for name in ("random", "kmq", "typiclust", "probcover", "auto", "maxherding", "ccs"):
        results["unlabelled"][name] = time_selector(name, x, None, budget)
    for name in ("random", "kmeans-nearest", "typiclust", "auto", "maxherding", "uherding", "ccs",
                 "window", "bilevel", "prototypes"):
        results["labelled"][name] = time_selector(name, x, names, budget)
    return results


def render(d: dict) -> list[str]:
    lines = [f"## Selection time ({d['n']:,} x {d['d']}, budget {d['budget']})", "",
             "Each selector from a fresh view (its clusterings included; configs/bench.yaml "
             "cluster settings). Labelled: the budget split across "
             f"{d['labels']} labels and selected inside each. *Other busy cores*: contention.",
             "", "| pool | selector | seconds | other busy cores | auto chose |",
             "|---|---|---|---|---|"]
    for pool in ("unlabelled", "labelled"):
        for name, row in d[pool].items():
            lines.append(f"| {pool} | {name} | {row['seconds']} | "
                         f"{row.get('other_busy_cores', '')} | {row.get('choice') or ''} |")
    return [*lines, ""]
