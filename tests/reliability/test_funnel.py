"""Issue 26, "the funnel": rows vanished silently and the budget followed them (1,529
unlabelled rows dropped with nothing on the terminal; 3,133 of 4,000 rows exact duplicates,
so `2%` became 17 rows, not 80), and dropped rows were written nowhere but as ids. Every
run now prints `read -> ... -> selected` and warns past 10% dropped, the manifest and the
Hub card carry the funnel, and `dropped.parquet` lists every dropped row with its reason,
its text and, for a duplicate, the row it duplicates. `data.keep_unlabelled: true` keeps
unlabelled rows as candidates."""

from __future__ import annotations

import json

import numpy as np
import polars as pl

from curate.config import DataConfig
from curate.data import load_pool

from .helpers import invoke, run_folders, write_config

# 60 rows in 3 blobs: r040-r049 have no label, r050-r059 repeat r000-r009 (text in upper
# case: duplicates after normalisation) and a blank text is r039's.
ROWS, UNLABELLED, COPIES = 60, range(40, 50), range(50, 60)


def funnel_pool(path, rows: int = ROWS, labels: list | None = None):
    rng = np.random.default_rng(0)
    base = np.eye(8, dtype=np.float32)[np.arange(rows) % 3] + rng.normal(scale=0.1,
                                                                         size=(rows, 8))
    texts = [f"gloss number {i}" for i in range(rows)]
    texts[39] = "   "
    for copy in COPIES:
        base[copy], texts[copy] = base[copy - 50], texts[copy - 50].upper()
    labels = labels or [None if i in UNLABELLED else f"c{i % 3}" for i in range(rows)]
    pl.DataFrame({"id": [f"r{i:03d}" for i in range(rows)], "text": texts,
                  "vec": base.astype(np.float32).tolist(), "label": labels}).write_parquet(path)
    return path


def config(tmp_path, **data):
    return write_config(tmp_path, {"path": str(funnel_pool(tmp_path / "pool.parquet")),
                                   "text_column": "text", "vector_column": "vec",
                                   "label_column": "label", **data})


def select(path) -> tuple[str, dict]:
    code, _out, err = invoke("select", path)
    assert code == 0, err
    return err, json.loads((run_folders(path.parent)[-1] / "manifest.json").read_text())


def test_the_funnel_is_printed_and_in_the_manifest(tmp_path):
    err, manifest = select(config(tmp_path))
    funnel = manifest["funnel"]
    line = ("60 read -> 59 with text -> 49 labelled -> 39 after dedup -> 12 selected "
            "(12 of 39)")
    assert funnel["line"] == line
    assert {k: funnel[k] for k in ("read", "labelled", "after_dedup", "selected",
                                   "budget")} == {"read": 60, "labelled": 49,
                                                  "after_dedup": 39, "selected": 12,
                                                  "budget": "12"}
    [warning] = funnel["warnings"]
    assert warning.startswith("21 of 60 rows read (35%) were dropped: 10 without a label, "
                              "1 with empty text, 10 duplicates"), warning
    assert "data.keep_unlabelled: true" in warning and "dropped.parquet" in warning
    assert line in err.splitlines() and warning in err.splitlines(), err  # the terminal
    assert manifest["pool"]["rows"] == 49  # the load stage's rows, as before


def test_dropped_parquet_lists_every_dropped_row_and_a_rerun_writes_the_same(tmp_path):
    path = config(tmp_path)
    select(path)
    _, manifest = select(path)  # every stage a cache hit
    assert manifest["cache_hits"]
    runs = [d for d in run_folders(tmp_path) if not d.is_symlink()]  # not `latest`
    first, second = (pl.read_parquet(d / "dropped.parquet") for d in runs)
    assert first.equals(second)
    assert not (run_folders(tmp_path)[0] / "duplicates.parquet").exists()
    by_id = {row["id"]: row for row in first.iter_rows(named=True)}
    assert sorted(by_id) == sorted(f"r{i:03d}" for i in [39, *UNLABELLED, *COPIES])
    assert by_id["r039"]["reason"] == "empty text" and by_id["r039"]["text"] == "   "
    for i in UNLABELLED:
        row = by_id[f"r{i:03d}"]
        assert (row["reason"], row["duplicate_of"], row["label"]) == ("no label", None, None)
        assert row["text"] == f"gloss number {i}"
    for i in COPIES:
        row = by_id[f"r{i:03d}"]
        assert (row["reason"], row["duplicate_of"]) == ("duplicate", f"r{i - 50:03d}")
        assert row["text"] == f"GLOSS NUMBER {i - 50}"
    subset = pl.read_parquet(run_folders(tmp_path)[0] / "subset" / "subset.parquet")
    assert not set(subset["id"]) & set(by_id)


def test_a_label_without_a_row_is_a_funnel_warning(tmp_path):
    labels = [f"l{i % 30:02d}" for i in range(ROWS)]
    data = {"path": str(funnel_pool(tmp_path / "pool.parquet", labels=labels)),
            "text_column": "text", "vector_column": "vec", "label_column": "label"}
    _, manifest = select(write_config(tmp_path, data, select={"selector": "random",
                                                              "budget": 10}))
    funnel = manifest["funnel"]
    assert funnel["labelled"] == 59  # nothing lacked a label: no step in the line
    assert funnel["line"] == "60 read -> 59 with text -> 49 after dedup -> 10 selected (10 of 49)"
    assert any("10 rows for 30 labels: 20 labels get no row" in w
               for w in funnel["warnings"]), funnel["warnings"]


def test_the_card_shows_the_funnel(tmp_path):
    _, manifest = select(config(tmp_path))
    out = tmp_path / "export"
    code, _, err = invoke("export", run_folders(tmp_path)[0], "--repo", "user/name",
                          "--dry-run", out)
    assert code == 0, err
    card = (out / "README.md").read_text()
    assert f"`{manifest['funnel']['line']}`" in card, card
    assert "21 of 60 rows read (35%) were dropped" in card


def test_keep_unlabelled_keeps_them_as_a_group_of_their_own(tmp_path):
    _, manifest = select(write_config(
        tmp_path, {"path": str(funnel_pool(tmp_path / "pool.parquet")),
                   "text_column": "text", "vector_column": "vec", "label_column": "label",
                   "keep_unlabelled": True},
        select={"selector": "random", "budget": "20%"}))
    funnel = manifest["funnel"]
    assert funnel["labelled"] is None
    assert funnel["line"] == "60 read -> 59 with text -> 49 after dedup -> 10 selected (20% of 49)"
    # 10 of the 49 rows have no label: their group gets its share of the budget, 2 rows.
    assert manifest["budget"]["per_label"] == {"": 2, "c0": 3, "c1": 3, "c2": 2}
    subset = pl.read_parquet(run_folders(tmp_path)[0] / "subset" / "subset.parquet")
    assert subset["label"].null_count() == 2 and subset.height == 10


def test_a_sample_is_a_step_of_its_own_and_no_drop(tmp_path):
    _, manifest = select(config(tmp_path, sample=30))
    funnel = manifest["funnel"]
    assert funnel["line"].startswith("60 read -> 59 with text -> 49 labelled -> 30 sampled -> ")
    assert funnel["read"] == 60 and funnel["labelled"] == 49


def test_a_selection_that_misses_labels_says_which(tmp_path):
    """A budget that can give every label a row, spent over the whole pool (not
    stratified): the labels the selector left without a row are named."""
    labels = [f"l{i % 30:02d}" for i in range(ROWS)]
    data = {"path": str(funnel_pool(tmp_path / "pool.parquet", labels=labels)),
            "text_column": "text", "vector_column": "vec", "label_column": "label"}
    err, manifest = select(write_config(tmp_path, data, select={
        "selector": "random", "budget": 30, "stratify": False}))
    selected = pl.read_parquet(run_folders(tmp_path)[0] / "subset" / "subset.parquet")
    missing = 30 - selected["label"].n_unique()
    assert missing > 0  # what this pool and seed give: the test's premise
    [warning] = [w for w in manifest["funnel"]["warnings"] if "the selection has" in w]
    assert warning.startswith(f"the selection has no row of {missing} of 30 labels (")
    assert warning in err.splitlines()


def test_a_dropped_pair_shows_both_sides_and_names_never_clash(tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = [{"prompt": f"q{i}", "reason": f"a{i}", "topic": None if i == 4 else "t"}
            for i in range(10)]
    rows[2]["reason"] = " "
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pool = load_pool(DataConfig(path=path, prompt_column="prompt", response_column="reason",
                                label_column="topic"))
    dropped = pool.dropped_rows
    assert dropped.columns == ["id", "reason", "duplicate_of", "cosine", "prompt",
                               "data_reason", "topic"]
    assert dropped.select("reason", "prompt", "data_reason", "topic").rows() == [
        ("empty text", "q2", " ", "t"), ("no label", "q4", "a4", None)]


def test_the_probe_hand_off_learns_no_class_from_unlabelled_rows(tmp_path):
    """With keep_unlabelled the subset holds rows without a label; the probe hand-off trains
    and scores on the labelled ones only (an empty label is no class)."""
    select(write_config(
        tmp_path, {"path": str(funnel_pool(tmp_path / "pool.parquet")),
                   "text_column": "text", "vector_column": "vec", "label_column": "label",
                   "keep_unlabelled": True},
        select={"selector": "random", "budget": "60%"}, train={"mode": "classifier"}))
    run_dir = run_folders(tmp_path)[0]
    subset = pl.read_parquet(run_dir / "subset" / "subset.parquet")
    metrics = json.loads((run_dir / "train" / "metrics.json").read_text())
    unlabelled = set(subset.filter(pl.col("label").is_null())["id"])
    assert unlabelled and not unlabelled & set(metrics["eval_ids"])
    assert metrics["train_rows"] + metrics["eval_rows"] == subset.height - len(unlabelled)
