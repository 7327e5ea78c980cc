"""The command line on real data: a run folder on success; exit 2, one line, nothing on failure."""

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from curate.cli import app

runner = CliRunner()


def write_config(tmp_path, data, **sections):
    config = {"data": data, "cluster": {"k": 8, "niter": 10, "nredo": 1},
              "output": {"dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache")},
              **sections}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_folders(tmp_path):
    return sorted(p for p in (tmp_path / "runs").glob("*/*") if p.is_dir() and not p.is_symlink())


def invoke(*args):
    result = runner.invoke(app, list(map(str, args)))
    return result.exit_code, result.stdout, result.stderr


def test_select_on_user_jsonl_with_only_path_and_columns(tmp_path, glosses_jsonl):
    config = tmp_path / "only.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"path": str(glosses_jsonl), "id_column": "uid", "text_column": "gloss",
                 "label_column": "topic"},
        "output": {"dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache")}}))
    code, out, err = invoke("select", config)
    assert code == 0, err
    run_dir = run_folders(tmp_path)[0]
    assert out.strip() == str(run_dir)
    assert {p.name for p in run_dir.iterdir()} == {"config.yaml", "manifest.json",
                                                  "selection.parquet", "subset",
                                                  "dropped.parquet", "handoff.json",
                                                  "report.md", "report.html", "run.log"}
    assert err.splitlines() == ["300 read -> 6 selected (2% of 300)",  # the funnel
                                f"subset:   {run_dir}/subset/subset.parquet (6 rows)",
                                f"report:   {run_dir}/report.html",
                                f"hand-off: {run_dir}/handoff.json (spec)"]
    subset = pl.read_parquet(run_dir / "subset" / "subset.parquet")
    pool_ids = set(pl.read_ndjson(glosses_jsonl)["uid"])
    assert subset.height == 6 and subset["id"].n_unique() == 6  # 2% of 300
    assert set(subset["id"]) <= pool_ids and {"gloss", "topic"} <= set(subset.columns)
    import datasets

    assert datasets.load_from_disk(str(run_dir / "subset" / "dataset")).num_rows == 6


def test_rerun_hits_every_cache_and_repeats_ids(tmp_path, glosses_jsonl):
    config = write_config(tmp_path, {"path": str(glosses_jsonl), "id_column": "uid",
                                     "text_column": "gloss"}, select={"budget": 20})
    assert invoke("select", config)[0] == 0
    assert invoke("select", config)[0] == 0
    first, second = run_folders(tmp_path)
    manifest = json.loads((second / "manifest.json").read_text())
    # auto (typiclust here) clusters inside the select stage
    assert manifest["cache_hits"] and set(manifest["stages"]) == {"load", "dedup", "embed",
                                                                   "select", "assemble"}
    assert not json.loads((first / "manifest.json").read_text())["cache_hits"]
    ids = [pl.read_parquet(d / "selection.parquet")["id"].to_list() for d in (first, second)]
    assert ids[0] == ids[1]
    code, _out, _ = invoke("select", config, "--refresh")
    refreshed = json.loads((run_folders(tmp_path)[-1] / "manifest.json").read_text())
    assert code == 0 and not any(s["cache_hit"] for s in refreshed["stages"].values())
    assert pl.read_parquet(run_folders(tmp_path)[-1] / "selection.parquet")["id"].to_list() \
        == ids[0]


def bad_inputs(tmp_path, glosses_jsonl):
    jsonl = {"path": str(glosses_jsonl), "id_column": "uid", "text_column": "gloss"}
    empty = tmp_path / "empty.parquet"
    pl.DataFrame({"text": []}, schema={"text": pl.Utf8}).write_parquet(empty)
    nan = tmp_path / "nan.parquet"
    pl.DataFrame({"vec": [[1.0, 0.0]] * 20 + [[float("inf"), 0.0]]}).write_parquet(nan)
    return {
        "missing file": ({"path": str(tmp_path / "no.jsonl"), "text_column": "t"}, {},
                         "data file not found"),
        "unknown builtin": ({"source": "builtin:wordnett"}, {}, "unknown builtin dataset"),
        "missing text column": ({**jsonl, "text_column": "body"}, {},
                                "column 'body' (data.text_column) not in"),
        "missing label column": ({**jsonl, "label_column": "kind"}, {},
                                 "column 'kind' (data.label_column) not in"),
        "empty pool": ({"path": str(empty), "text_column": "text"}, {}, "has no rows"),
        "zero budget": (jsonl, {"select": {"budget": 0}}, "must be positive"),
        "budget larger than pool": (jsonl, {"select": {"budget": 500}},
                                    "larger than the pool (300 rows)"),
        "unknown selector": (jsonl, {"select": {"selector": "kmeanz"}},
                             "unknown selector 'kmeanz'"),
        "config typo": (jsonl, {"selectt": {}}, "unknown config key 'selectt'"),
        "nan vectors": ({"path": str(nan), "vector_column": "vec"},
                        {"select": {"budget": 5}}, "NaN or inf"),
        "model path missing": (jsonl, {"embed": {"model": str(tmp_path / "no-model")}},
                               "embedding model path does not exist"),
    }


CASES = ["missing file", "unknown builtin", "missing text column", "missing label column",
         "empty pool", "zero budget", "budget larger than pool", "unknown selector",
         "config typo", "nan vectors", "model path missing"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_exit_2_and_no_run_folder(tmp_path, glosses_jsonl, case):
    data, sections, message = bad_inputs(tmp_path, glosses_jsonl)[case]
    code, _, err = invoke("select", write_config(tmp_path, data, **sections))
    assert code == 2
    assert message in err and err.startswith("error:") and err.count("\n") == 1
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*"))


def test_allow_smaller_takes_the_whole_pool(tmp_path, glosses_jsonl):
    config = write_config(tmp_path, {"path": str(glosses_jsonl), "text_column": "gloss"},
                          select={"budget": 500, "selector": "random"})
    code, _out, err = invoke("select", config, "--allow-smaller")
    assert code == 0, err
    assert pl.read_parquet(run_folders(tmp_path)[0] / "selection.parquet").height == 300


def test_datasets_lists_builtins():
    code, out, _ = invoke("datasets")
    assert code == 0 and "builtin:chatterbot" in out and "2026" in out


def test_help_explains_commands():
    code, out, _ = invoke("--help")
    assert code == 0 and all(cmd in out for cmd in ("run", "select", "datasets"))


def test_numeric_pool_column_is_a_quality_score(tmp_path, glosses):
    path = tmp_path / "scored.parquet"
    scored = glosses.with_columns(reward=(pl.int_range(300) % 10 == 0).cast(pl.Float64) * 1e3)
    scored.write_parquet(path)
    config = write_config(tmp_path, {"path": str(path), "text_column": "text"},
                          select={"selector": "kmq", "budget": 30, "stratify": False,
                                  "params": {"quality": "reward"}})
    code, _, err = invoke("select", config)
    assert code == 0, err
    run_dir = run_folders(tmp_path)[0]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assignment = np.load(Path(manifest["stages"]["cluster"]["artifact"]) / "assignment.npy")
    pool = scored.with_columns(cluster=assignment)
    chosen = pl.read_parquet(run_dir / "selection.parquet").select("id")
    pool = pool.with_columns(chosen=pl.col("id").is_in(chosen["id"].implode()))
    # kMQ keeps each cluster's quota; inside a cluster, a rewarded row is never passed over
    # for an unrewarded one (weights e^1000 : 1).
    for (_,), rows in pool.group_by(["cluster"]):
        rewarded, picked = rows["reward"] > 0, rows["chosen"]
        assert picked.sum() >= 1
        assert not ((~rewarded & picked).any() and (rewarded & ~picked).any())
    assert pool.filter("chosen")["reward"].sum() >= 1e3 * 8  # far above the 3 random expects


def test_dealrec_run_writes_its_scores(tmp_path, glosses_jsonl):
    config = write_config(tmp_path, {"path": str(glosses_jsonl), "id_column": "uid",
                                     "text_column": "gloss", "label_column": "topic"},
                          select={"selector": "dealrec", "budget": 30})
    code, _, err = invoke("select", config)
    assert code == 0, err
    run_dir = run_folders(tmp_path)[0]
    scores = pl.read_parquet(run_dir / "scores.parquet")
    assert scores.columns == ["id", "influence", "effort"] and scores.height == 300
    assert scores["effort"].is_finite().all() and (scores["effort"] > 0).all()
    assert pl.read_parquet(run_dir / "selection.parquet").height == 30


def test_dealrec_on_prompt_response_rows_takes_effort_from_the_lm(tmp_path, tiny_lm, chat_rows):
    path = tmp_path / "chat.parquet"
    prompts, responses = chat_rows
    pl.DataFrame({"prompt": prompts, "response": responses}).write_parquet(path)
    config = write_config(tmp_path, {"path": str(path)},
                          select={"selector": "dealrec", "budget": 20},
                          scoring={"effort_model": tiny_lm, "effort_max_length": 64})
    code, _, err = invoke("select", config)
    assert code == 0, err
    scores = pl.read_parquet(run_folders(tmp_path)[0] / "scores.parquet")
    assert scores.height == len(prompts) and (scores["effort"] > 0).all()

    from curate.models.causal_lm import load_causal_lm
    from curate.scoring.lm_effort import lm_effort

    model, tokenizer = load_causal_lm(tiny_lm, "unused")
    expected = lm_effort(model, tokenizer, prompts[:8], responses[:8], max_length=64)
    # The pool holds rows in id order: find the first 8 source rows by their content ids.
    from curate.data.pool import stable_ids

    first = pl.DataFrame({"id": stable_ids(pl.read_parquet(path), ["prompt", "response"])[:8]})
    effort = first.join(scores, on="id", how="left", maintain_order="left")["effort"]
    assert np.allclose(effort.to_numpy(), expected, rtol=1e-3)


def test_ot_selects_toward_a_target_set(tmp_path, glosses):
    """Pool: all three categories; target: food glosses. OT picks mostly food."""
    pool_path, target_path = tmp_path / "pool.parquet", tmp_path / "target.parquet"
    glosses.write_parquet(pool_path)
    food = glosses.filter(pl.col("label") == "noun.food")
    food.head(40).write_parquet(target_path)
    config = write_config(tmp_path, {"path": str(pool_path)},
                          target={"path": str(target_path)},
                          select={"selector": "ot", "budget": 30})
    code, _, err = invoke("select", config)
    assert code == 0, err
    run_dir = run_folders(tmp_path)[0]
    chosen = pl.read_parquet(run_dir / "subset" / "subset.parquet")
    share = (chosen["label"] == "noun.food").mean()
    assert share > 0.8 and share > 2 * (glosses["label"] == "noun.food").mean()
    assert "ot_potential" in pl.read_parquet(run_dir / "scores.parquet").columns
    assert (run_dir / "projection.png").read_bytes().startswith(b"\x89PNG")


def test_ot_without_target_is_a_clear_error(tmp_path, glosses_jsonl):
    config = write_config(tmp_path, {"path": str(glosses_jsonl), "text_column": "gloss"},
                          select={"selector": "ot", "budget": 10})
    code, _, err = invoke("select", config)
    assert code == 2 and "needs a target set" in err


def test_surrogate_scores_are_cached_and_reused_by_kmq(tmp_path, glosses_jsonl, monkeypatch):
    data = {"path": str(glosses_jsonl), "id_column": "uid", "text_column": "gloss",
            "label_column": "topic"}
    assert invoke("select", write_config(tmp_path, data, select={"selector": "dealrec",
                                                                 "budget": 30}))[0] == 0
    import curate.scoring

    def fail(*_args, **_kwargs):
        raise AssertionError("the surrogate was trained again")

    monkeypatch.setattr(curate.scoring, "surrogate_scores", fail)
    config = write_config(tmp_path, data, select={"selector": "kmq", "budget": 30,
                                                  "params": {"quality": "influence"}})
    code, _, err = invoke("select", config)
    assert code == 0, err
    first, second = run_folders(tmp_path)
    assert pl.read_parquet(first / "scores.parquet").equals(
        pl.read_parquet(second / "scores.parquet"))
