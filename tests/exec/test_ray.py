"""The Ray executor against the local reference, on one small local Ray cluster."""

import numpy as np
import pytest

from curate.config import DataConfig, EmbedConfig
from curate.data import load_pool
from curate.embed import embed_pool, row_keys
from curate.errors import CurateError
from curate.exec import LocalExecutor
from curate.exec.ray_pool import RayExecutor
from curate.selectors import make_selector
from curate.store import ArtifactCache
from tests.exec.helpers import PLANNED, budget_for, same_selection, sharded, view_of

ray = pytest.importorskip("ray")
CFG = EmbedConfig(max_length=48, batch_size=32, shard_size=100, precision="fp32")
THREADS = 2
# the plan selectors (random, kmq, kmeans-nearest) run on Ray; typiclust gathers
STAGE_SELECTORS = ("random", "kmq", "kmeans-nearest", "typiclust")


@pytest.fixture(scope="module")
def cluster():
    import torch

    # Float sums depend on how many threads split them (1e-7 apart here), so bit-identity
    # needs the actors to run as many torch threads as this process: two each.
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    ray.init(num_cpus=3, include_dashboard=False, object_store_memory=80 * 1024**2,
             log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def articles():
    return load_pool(DataConfig(source="builtin:bbc-news", sample=600))


def test_ray_embedding_is_bit_identical_to_local(tmp_path, cluster, articles):
    local = embed_pool(articles, CFG, ArtifactCache(tmp_path / "local"), executor=LocalExecutor())
    spread = embed_pool(articles, CFG, ArtifactCache(tmp_path / "ray"),
                        executor=RayExecutor(workers=1, cpus_per_worker=THREADS))
    assert spread.key == local.key  # the executor is not part of any key
    assert np.array_equal(spread.load(), local.load())
    assert sorted(p.name for p in spread.shards.glob("*.npy")) == sorted(
        p.name for p in local.shards.glob("*.npy"))


def test_lost_worker_keeps_written_shards_and_rerun_embeds_only_the_rest(
        tmp_path, cluster, articles, monkeypatch):
    import curate.embed.shards as shard_files

    articles = load_pool(DataConfig(source="builtin:bbc-news", sample=300))
    executor = RayExecutor(workers=1, cpus_per_worker=THREADS)
    write, written = shard_files.write_shard, []

    def write_then_kill(*args, **kwargs):  # the driver writes a shard, then a worker dies
        write(*args, **kwargs)
        written.append(args[1])
        if len(written) == 1:
            for handle in executor.actors:
                ray.kill(handle, no_restart=True)

    monkeypatch.setattr(shard_files, "write_shard", write_then_kill)
    cache = ArtifactCache(tmp_path / "cache")
    with pytest.raises(CurateError, match="Ray worker died"):
        embed_pool(articles, CFG, cache, executor=executor)
    monkeypatch.setattr(shard_files, "write_shard", write)
    assert 1 <= len(written) < 3
    kept = np.concatenate([np.load(next((tmp_path / "cache").rglob(f"{name}.keys.npy")))
                           for name in written])
    missing = ~np.isin(row_keys(articles.texts()), kept)
    resumed = embed_pool(articles, CFG, cache,
                         executor=RayExecutor(workers=1, cpus_per_worker=THREADS))
    assert resumed.stats["rows_new"] == missing.sum() > 0
    fresh = embed_pool(articles, CFG, ArtifactCache(tmp_path / "fresh"))
    assert np.array_equal(resumed.load(), fresh.load())


def test_curate_select_on_ray_picks_the_ids_local_picks(tmp_path, cluster, glosses_jsonl):
    import polars as pl

    from tests.reliability.helpers import invoke, run_folders, write_config

    data = {"path": str(glosses_jsonl), "id_column": "uid", "text_column": "gloss",
            "label_column": "topic"}
    embed = {"max_length": 32, "precision": "fp32", "shard_size": 100}
    picks = {}
    for executor in ("local", "ray"):
        for selector in STAGE_SELECTORS:
            folder = tmp_path / executor / selector
            folder.mkdir(parents=True)
            config = write_config(folder, data, embed=embed,
                                  select={"selector": selector, "budget": "5 per label"},
                                  run={"executor": executor, "workers": 1,
                                       "cpus_per_worker": THREADS},
                                  output={"dir": str(folder / "runs"),
                                          "cache_dir": str(tmp_path / executor / "cache")})
            code, _, err = invoke("select", config)
            assert code == 0, err
            (run_dir,) = run_folders(folder)
            ids = pl.read_parquet(run_dir / "selection.parquet")["id"].to_list()
            picks[executor, selector] = ids
            assert len(ids) == 15
    for selector in STAGE_SELECTORS:
        assert picks["ray", selector] == picks["local", selector], selector


def test_selector_plans_on_ray_pick_what_memory_picks(cluster, images):
    """12 shards as Ray tasks: plans (random, kmq, kmeans-nearest) and a gathered selector
    (typiclust) give the in-memory ids, order and reasons."""
    executor = RayExecutor(cpus_per_worker=1)
    for spec in ("2%", "10 per label"):
        budget = budget_for(images, spec)
        for selector in ("random", "kmq", "kmeans-nearest", "typiclust"):
            pool = sharded(images, executor)
            if selector in PLANNED:
                pool.gather_limit = 0
            with executor.session():
                spread = make_selector(selector).select_sharded(pool, budget, 2)
            same_selection(make_selector(selector).select(view_of(images), budget, 2), spread)
