"""Shuffling a pool's rows never changes the selected ids (issue 11): the pool is put in id
order at load, so every stage sees the same rows in the same order."""

import json

import polars as pl
import pytest

from curate.config_load import parse_config
from curate.run import run_curation
from curate.scoring.lm_scores import lm_scores_named
from curate.selectors import available, make_selector

# ot needs a target set: its own test below. Selectors that read LM scores need
# prompt/response rows, which the glosses are not (tests/selectors: keyed order).
SELECTORS = sorted(name for name in set(available()) - {"ot"}
                   if not lm_scores_named(make_selector(name).get_params()))


def selected_ids(tmp_path, pool: pl.DataFrame, selector: str, name: str, **extra) -> list[str]:
    path = tmp_path / f"{name}.parquet"
    pool.write_parquet(path)
    cfg = parse_config({"data": {"path": str(path), "id_column": "id", "text_column": "text",
                                 "label_column": "label"},
                        "cluster": {"k": 6, "niter": 10, "nredo": 1},
                        "select": {"selector": selector, "budget": "5%"},
                        "output": {"dir": str(tmp_path / "runs"),
                                   "cache_dir": str(tmp_path / "cache")},
                        "run": {"name": name}, **extra})
    run_dir = run_curation(cfg)
    return sorted(pl.read_parquet(run_dir / "selection.parquet")["id"].to_list())


@pytest.mark.parametrize("selector", SELECTORS)
def test_a_shuffled_pool_selects_the_same_ids(tmp_path, glosses, selector):
    shuffled = glosses.sample(fraction=1.0, shuffle=True, seed=5)
    assert shuffled["id"].to_list() != glosses["id"].to_list()
    assert selected_ids(tmp_path, glosses, selector, "a") == selected_ids(
        tmp_path, shuffled, selector, "b")


def test_ot_with_a_target_ignores_row_order(tmp_path, glosses):
    target = tmp_path / "target.jsonl"
    glosses.filter(pl.col("label") == "noun.food").head(20).write_ndjson(target)
    extra = {"target": {"path": str(target), "text_column": "text"}}
    shuffled = glosses.sample(fraction=1.0, shuffle=True, seed=6)
    assert selected_ids(tmp_path, glosses, "ot", "a", **extra) == selected_ids(
        tmp_path, shuffled, "ot", "b", **extra)


def test_the_manifest_pool_fingerprint_ignores_row_order(tmp_path, glosses):
    selected_ids(tmp_path, glosses, "random", "a")
    selected_ids(tmp_path, glosses.reverse(), "random", "b")
    prints = {json.loads(m.read_text())["pool"]["fingerprint"]
              for m in (tmp_path / "runs").glob("*/*/manifest.json")}
    assert len(prints) == 1
