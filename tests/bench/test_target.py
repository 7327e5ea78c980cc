"""Target-shift benchmarking: the split, the two distances, and `curate bench --target-*`."""

import numpy as np
import polars as pl
import pytest

from curate.bench.target import ot_cost, target_label_split, tv_distance
from curate.errors import CurateError
from tests.bench.test_bench import invoke
from tests.conftest import unit_rows


def test_tv_distance_known_values():
    a = np.array(["x", "x", "y", "y"])
    assert tv_distance(a, a[::-1]) == 0
    assert tv_distance(a, np.array(["z", "z"])) == 1
    assert tv_distance(a, np.array(["x", "x", "x", "x"])) == pytest.approx(0.5)


def test_ot_cost_is_lower_near_the_target():
    rng = np.random.default_rng(0)
    target = unit_rows(np.eye(8)[0] + 0.1 * rng.normal(size=(50, 8)))
    near = unit_rows(np.eye(8)[0] + 0.1 * rng.normal(size=(80, 8)))
    far = unit_rows(np.eye(8)[1] + 0.1 * rng.normal(size=(80, 8)))
    assert ot_cost(near, target) < ot_cost(far, target) - 1.0


def test_target_label_split_is_disjoint_seeded_and_checked():
    labels = np.array(["a", "b", "c"] * 100)
    train, test = np.arange(240), np.arange(240, 300)
    target, pool, kept_test = target_label_split(labels, train, test, ["a", "b"], 50, seed=3)
    assert len(target) == 50 and set(labels[target]) <= {"a", "b"}
    assert not np.intersect1d(target, pool).size and len(pool) == 190
    assert set(labels[kept_test]) == {"a", "b"} and len(kept_test) == 40
    again = target_label_split(labels, train, test, ["a", "b"], 50, seed=3)[0]
    assert np.array_equal(target, again)
    with pytest.raises(CurateError, match=r"\['d'\] are not in the dataset"):
        target_label_split(labels, train, test, ["d"], 5, seed=0)
    with pytest.raises(CurateError, match="lower --target-size"):
        target_label_split(labels, train, test, ["a"], 81, seed=0)


@pytest.fixture
def jsonl(tmp_path, glosses):
    path = tmp_path / "pool.jsonl"
    glosses.write_ndjson(path)
    return path


def test_ot_moves_the_selection_toward_the_target_labels(tmp_path, jsonl):
    """GOT-D on real glosses: a target of the two minority categories pulls the selection's
    label mix toward it; random keeps the pool's mix (mostly noun.animal, TV about 0.8)."""
    code, _, err = invoke("bench", "--data", jsonl, "--selectors", "random,ot",
                          "--budgets", "0.1", "--seeds", "3", "--target-labels",
                          "noun.food,verb.motion", "--target-size", "30",
                          "--out", tmp_path / "out")
    assert code == 0, err
    results = pl.read_parquet(tmp_path / "out" / "results.parquet")
    assert set(results["metric"]) == {"accuracy", "macro_f1", "tv_distance", "ot_cost"}
    tv = results.filter(pl.col("metric") == "tv_distance").group_by("selector").agg(
        pl.col("value").mean()).sort("selector")
    by_selector = dict(zip(tv["selector"], tv["value"], strict=True))
    assert by_selector["ot"] < 0.3 and by_selector["random"] > 0.7
    cost = results.filter(pl.col("metric") == "ot_cost").group_by("selector").agg(
        pl.col("value").mean())
    by_selector = dict(zip(cost["selector"], cost["value"], strict=True))
    assert by_selector["ot"] < by_selector["random"]
    assert "tv_distance (lower is better)" in (tmp_path / "out" / "results.md").read_text()


def test_own_target_file_reports_ot_cost_only(tmp_path, jsonl, glosses):
    target = tmp_path / "target.jsonl"
    glosses.filter(pl.col("label") == "verb.motion").head(20).drop("label").write_ndjson(target)
    code, _, err = invoke("bench", "--data", jsonl, "--selectors", "random", "--budgets",
                          "0.1", "--seeds", "1", "--target", target, "--out", tmp_path / "o")
    assert code == 0, err
    metrics = set(pl.read_parquet(tmp_path / "o" / "results.parquet")["metric"])
    assert metrics == {"accuracy", "macro_f1", "ot_cost"}
