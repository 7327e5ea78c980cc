"""Embedding on the Ray executor against the local loop, on the same WordNet glosses in the
same run (issue 12): rows/s with 1 and 2 actors, what starting the cluster and the actors
costs, and what a 100M-row pool would need.

Each measurement embeds into a fresh cache, so nothing is reused. Actors run one torch
thread each (`run.cpus_per_worker: 1`); the local loop runs torch's default threads. The
actors' CPU time counts as "other busy cores" in the contention figure.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.common import measured
from curate.config import DataConfig, EmbedConfig
from curate.data import load_pool
from curate.embed import embed_pool
from curate.store import ArtifactCache

TARGET_ROWS = 100_000_000


def _embed(pool, cfg: EmbedConfig, folder: Path, executor=None) -> dict:
    with measured({}) as timing:
        embed_pool(pool, cfg, ArtifactCache(folder), executor=executor)
    return {**timing, "rows_per_s": round(len(pool) / timing["seconds"], 1)}


def run(n: int = 4000, shard_size: int = 250) -> dict:
    import ray

    from curate.exec.ray_pool import RayExecutor

    pool = load_pool(DataConfig(source="builtin:wordnet", sample=n))
    one_row = load_pool(DataConfig(source="builtin:wordnet", sample=1))
    cfg = EmbedConfig(max_length=128, batch_size=128, shard_size=shard_size)
    result = {"rows": len(pool), "shard_size": shard_size, "precision": cfg.precision}
    with tempfile.TemporaryDirectory(prefix="curate-scale-") as tmp:
        tmp = Path(tmp)
        result["local"] = _embed(pool, cfg, tmp / "local")
        print(f"  local: {result['local']['rows_per_s']} rows/s", flush=True)
        with measured({}) as start:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        result["cluster_start_s"] = start["seconds"]
        try:
            for workers in (1, 2):
                executor = RayExecutor(workers=workers, cpus_per_worker=1)
                # one row: what starting the actors (a model load each) costs a run
                result[f"actor_start_{workers}_s"] = _embed(one_row, cfg, tmp / f"start{workers}",
                                                            executor)["seconds"]
                timing = _embed(pool, cfg, tmp / f"ray{workers}", executor)
                busy = timing["seconds"] - result[f"actor_start_{workers}_s"]
                timing["rows_per_s_after_start"] = round(len(pool) / max(busy, 1e-9), 1)
                result[f"ray_{workers}"] = timing
                print(f"  ray, {workers} actor(s): {result[f'ray_{workers}']['rows_per_s']} "
                      f"rows/s", flush=True)
        finally:
            ray.shutdown()
    per_actor = result["ray_2"]["rows_per_s_after_start"] / 2
    result["projection"] = {"rows": TARGET_ROWS, "rows_per_s_per_actor": round(per_actor, 1),
                            "actor_hours": round(TARGET_ROWS / per_actor / 3600),
                            "hours_on_100_actors": round(TARGET_ROWS / per_actor / 3600 / 100,
                                                         1)}
    return result


def render(d: dict) -> list[str]:
    p = d["projection"]
    return [f"## Ray executor: embedding {d['rows']:,} WordNet glosses (issue 12)", "",
            f"Shards of {d['shard_size']} rows, precision {d['precision']}, each run into a "
            "fresh cache. Actors run one torch thread each; local runs torch's default. Every "
            "rows/s includes loading the model (local: once; ray: once per actor), the last "
            "column excepted.", "",
            "| executor | rows/s | ratio to local | rows/s once the actors are up | "
            "other busy cores |", "|---|---|---|---|---|",
            f"| local | {d['local']['rows_per_s']} | 1.0 | | "
            f"{d['local']['other_busy_cores']} |",
            *(f"| ray, {w} actor{'s' if w > 1 else ''} | {d[f'ray_{w}']['rows_per_s']} | "
              f"{d[f'ray_{w}']['rows_per_s'] / d['local']['rows_per_s']:.2f} | "
              f"{d[f'ray_{w}']['rows_per_s_after_start']} | "
              f"{d[f'ray_{w}']['other_busy_cores']} |" for w in (1, 2)),
            "",
            f"Overhead per run: starting a local Ray cluster {d['cluster_start_s']} s; "
            f"starting the actors and loading the model (a one-row run) "
            f"{d['actor_start_1_s']} s with one actor, {d['actor_start_2_s']} s with two.", "",
            f"At {p['rows_per_s_per_actor']} rows/s per one-thread actor, {p['rows']:,} rows "
            f"need about {p['actor_hours']:,} actor-hours: {p['hours_on_100_actors']} hours on "
            "100 such actors (for instance 13 machines of 8 cores), before loading and "
            "selection, which still run on the driver.", ""]
