import traceback

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from curate.bench.protocol import split_seeds, stratified_split
from curate.bench.summary import paired_difference
from curate.cli import app
from curate.config import BenchConfig
from curate.errors import CurateError
from curate.models.probe import ProbeEvaluator
from curate.selectors import Picks, Selector, register
from curate.selectors.registry import _REGISTRY


def invoke(*args):
    result = CliRunner().invoke(app, list(map(str, args)))
    err = result.stderr
    if result.exc_info and not isinstance(result.exception, SystemExit):
        err += "".join(traceback.format_exception(*result.exc_info))  # shown when it fails
    return result.exit_code, result.stdout, err


@pytest.fixture
def jsonl(tmp_path, glosses):
    path = tmp_path / "pool.jsonl"
    glosses.write_ndjson(path)  # columns id, text, label: found without any column flags
    return path


def bench_args(tmp_path, jsonl, *extra):
    config = tmp_path / "bench.yaml"
    config.write_text(f"data:\n  path: {jsonl}\ncluster:\n  k: 8\n  niter: 10\n  nredo: 1\n"
                      f"output:\n  cache_dir: {tmp_path / 'cache'}\n")
    return ["bench", config, "--out", tmp_path / "out", *extra]


def test_bench_on_a_user_jsonl_writes_its_outputs(tmp_path, jsonl):
    code, out, err = invoke("bench", "--data", jsonl, "--selectors", "random,kmq", "--budgets",
                            "0.02", "--seeds", "3", "--out", tmp_path / "out")
    assert code == 0, err
    results = pl.read_parquet(tmp_path / "out" / "results.parquet")
    assert {"dataset", "selector", "budget", "seed", "metric", "value", "seconds"} <= set(
        results.columns)
    runs = results.filter(pl.col("selector") != "full")
    assert runs.select("selector", "seed").n_unique() == 6 and runs["error"].is_null().all()
    assert (runs["rows"] == 5).all()  # 2% of the 240 train rows
    assert set(runs["metric"]) == {"accuracy", "macro_f1"}
    md = (tmp_path / "out" / "results.md").read_text()
    assert "| kmq | 0.02 | 5 |" in md and "| all train rows | all |" in md and md in out
    png = (tmp_path / "out" / "results.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    html = (tmp_path / "out" / "results.html").read_text()
    assert "kmq" in html and html.count('<img src="data:image/png') == 2  # two metrics


def test_failing_selector_is_recorded_and_exit_is_nonzero(tmp_path, jsonl):
    @register
    class FlakySelector(Selector):
        name = "flaky-test"

        def __init__(self):
            pass

        def pick(self, view, n, rng):
            if rng.integers(2) == 0:
                raise RuntimeError("flaky failure")
            return Picks(rows=np.arange(n), scores=np.zeros(n), reasons=["first"] * n)

    try:
        code, _, err = invoke(*bench_args(tmp_path, jsonl, "--selectors", "random,flaky-test",
                                          "--budgets", "5-per-label", "--seeds", "4"))
    finally:
        _REGISTRY.pop("flaky-test")
    results = pl.read_parquet(tmp_path / "out" / "results.parquet")
    flaky = results.filter(pl.col("selector") == "flaky-test")
    failed = flaky.filter(pl.col("error").is_not_null())
    assert code == 1 and "runs failed" in err
    assert 0 < failed["seed"].n_unique() < 4  # some seeds failed, the others ran
    assert failed["value"].is_nan().all() and "flaky failure" in failed["error"][0]
    assert results.filter(pl.col("selector") == "random")["error"].is_null().all()


def test_no_label_column_says_to_use_lora(tmp_path):
    path = tmp_path / "nolabel.jsonl"
    pl.DataFrame({"text": [f"row {i}" for i in range(50)]}).write_ndjson(path)
    code, _, err = invoke("bench", "--data", path, "--out", tmp_path / "o")
    assert code == 2 and "needs labels" in err and "--evaluator lora" in err


def test_budget_smaller_than_label_count(tmp_path, jsonl):
    """As `curate select` does (one budget rule, issue 26): it runs, with one warning that
    names how many labels get no row."""
    code, _, err = invoke(*bench_args(tmp_path, jsonl, "--budgets", "2", "--seeds", "1"))
    assert code == 0, err
    assert "budget '2' is 2 rows for 3 labels: " in err and "labels get no row" in err, err


def test_probe_reaches_known_accuracy_on_separable_toy():
    """Two classes split by a margin: any linear probe trained on them is exact."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5))
    side = np.where(np.arange(400) % 2 == 0, 1.0, -1.0)
    x[:, 0] = side * (1.0 + np.abs(x[:, 0]))  # a gap of width 2 around the plane x0 = 0
    labels = np.where(side > 0, "pos", "neg")
    probe = ProbeEvaluator(x, labels, test_rows=np.arange(200, 400))
    scores = probe.score(np.arange(200), seed=0)
    assert scores == {"accuracy": 1.0, "macro_f1": 1.0}
    one_class = probe.score(np.flatnonzero(labels[:200] == "pos"), seed=0)
    assert one_class["accuracy"] == pytest.approx(np.mean(labels[200:] == "pos"))


def test_probe_without_labels_is_a_clear_error():
    with pytest.raises(CurateError, match="needs labels"):
        ProbeEvaluator(np.zeros((3, 2)), None, np.arange(1))


def test_stratified_split_keeps_label_shares_and_singletons():
    labels = np.array(["a"] * 50 + ["b"] * 20 + ["c"])
    train, test = stratified_split(labels, len(labels), 0.2, seed=0)
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == 71
    assert (labels[test] == "a").sum() == 10 and (labels[test] == "b").sum() == 4
    assert "c" in labels[train]
    again = stratified_split(labels, len(labels), 0.2, seed=0)
    assert np.array_equal(again[1], test)


def test_paired_difference_interval():
    diff, half = paired_difference(np.array([0.6, 0.7, 0.8]), np.array([0.5, 0.6, 0.7]))
    assert diff == pytest.approx(0.1) and half == pytest.approx(0.0, abs=1e-12)
    diff, half = paired_difference(np.array([1.0, 2.0]), np.array([0.0, 0.0]))
    # t(0.975, 1) = 12.706; sd = 0.7071; n = 2
    assert diff == 1.5 and half == pytest.approx(12.706 * 0.70711 / np.sqrt(2), rel=1e-3)


def test_lora_evaluator_through_bench(tmp_path, tiny_lm, chat_rows):
    """The lora evaluator trains with the hand-off's trainer (TRL), reports the held-out loss
    per label and its mean over labels, and ROUGE-L; a rerun reads every fine-tune from the
    cache instead of training again."""
    path = tmp_path / "chat.jsonl"
    prompts, responses = chat_rows
    pl.DataFrame({"prompt": prompts, "response": responses,
                  "label": ["ab"[i % 2] for i in range(len(prompts))]}).write_ndjson(path)
    config = tmp_path / "lora.yaml"
    config.write_text(
        f"data:\n  path: {path}\ncluster:\n  k: 4\n  niter: 10\n  nredo: 1\n"
        f"output:\n  cache_dir: {tmp_path / 'cache'}\n"
        f"bench:\n  evaluator: lora\n  generate_rows: 8\n  lora:\n    model: {tiny_lm}\n"
        f"    learning_rate: 0.02\n    epochs: 4\n    batch_size: 16\n    max_length: 64\n"
        f"    target_modules: [q_proj, v_proj, o_proj, up_proj, down_proj]\n")
    args = ("bench", config, "--selectors", "random", "--budgets", "10", "--seeds", "2")
    code, _, err = invoke(*args, "--out", tmp_path / "out")
    assert code == 0, err
    results = pl.read_parquet(tmp_path / "out" / "results.parquet")
    assert set(results["metric"]) == {"loss", "perplexity", "rouge_l", "loss[a]", "loss[b]"}
    assert results["value"].is_finite().all()
    wide = results.pivot("metric", index=["selector", "seed"], values="value")
    assert np.allclose(wide["loss"], (wide["loss[a]"] + wide["loss[b]"]) / 2)
    assert ((wide["rouge_l"] >= 0) & (wide["rouge_l"] <= 1)).all()
    loss = results.filter(pl.col("metric") == "loss")
    full = loss.filter(pl.col("selector") == "full")["value"].max()
    assert full < loss.filter(pl.col("selector") == "random")["value"].min()  # more data helps
    entries = list((tmp_path / "cache" / "bench-lora").iterdir())
    assert len(entries) == 4  # two splits: a ceiling and a random subset each
    code, _, err = invoke(*args, "--out", tmp_path / "again")
    assert code == 0, err
    again = pl.read_parquet(tmp_path / "again" / "results.parquet")
    assert again.drop("seconds").equals(results.drop("seconds"))
    assert len(list((tmp_path / "cache" / "bench-lora").iterdir())) == 4


def test_bench_without_the_ceiling(tmp_path, jsonl):
    args = bench_args(tmp_path, jsonl, "--selectors", "random,typiclust", "--budgets",
                      "2 per label", "--seeds", "2")
    config = args[1]
    config.write_text(config.read_text() + "bench:\n  ceiling: false\n")
    code, _, err = invoke(*args)
    assert code == 0, err
    results = pl.read_parquet(tmp_path / "out" / "results.parquet")
    assert "full" not in set(results["selector"]) and results["error"].is_null().all()
    assert set(results["metric"]) == {"accuracy", "macro_f1"} and (results["rows"] == 6).all()


def test_first_seed_adds_seeds_that_match_a_whole_run(tmp_path, jsonl):
    def results(first_seed, seeds, out):
        config = tmp_path / f"bench-{first_seed}.yaml"
        config.write_text(f"data:\n  path: {jsonl}\noutput:\n  cache_dir: {tmp_path / 'c'}\n"
                          f"bench:\n  first_seed: {first_seed}\n  ceiling: false\n")
        code, _, err = invoke("bench", config, "--selectors", "random,kmeans-nearest",
                              "--budgets", "2-per-label", "--seeds", seeds, "--out", out)
        assert code == 0, err
        return pl.read_parquet(out / "results.parquet").drop("seconds").sort(
            "selector", "seed", "metric")

    whole = results(0, 3, tmp_path / "whole")
    later = results(2, 1, tmp_path / "later")
    assert later["seed"].unique().to_list() == [2]
    assert later.equals(whole.filter(pl.col("seed") == 2))


def test_each_seed_runs_on_its_own_split(tmp_path, jsonl):
    """bench.resplit: seed s of a run is the fixed-split run on split_seed = s, ceiling too."""
    def results(name, bench):
        config = tmp_path / f"{name}.yaml"
        config.write_text(f"data:\n  path: {jsonl}\noutput:\n  cache_dir: {tmp_path / 'c'}\n"
                          f"bench:\n{bench}")
        code, _, err = invoke("bench", config, "--selectors", "random,kmeans-nearest",
                              "--budgets", "2-per-label", "--out", tmp_path / name)
        assert code == 0, err
        return pl.read_parquet(tmp_path / name / "results.parquet").drop("seconds").sort(
            "selector", "seed", "metric")

    resplit = results("resplit", "  seeds: 2\n")
    fixed = results("fixed", "  seeds: 1\n  first_seed: 1\n  split_seed: 1\n"
                             "  resplit: false\n")
    assert resplit.filter(pl.col("selector") == "full")["seed"].unique().to_list() == [0, 1]
    assert fixed.equals(resplit.filter(pl.col("seed") == 1))
    assert split_seeds(BenchConfig(seeds=3, split_seed=4)) == {0: 4, 1: 5, 2: 6}
    assert split_seeds(BenchConfig(seeds=2, first_seed=3, resplit=False)) == {3: 0, 4: 0}
    tests = [stratified_split(np.repeat(["a", "b"], 20), 40, 0.2, seed)[1] for seed in (4, 5)]
    assert not np.array_equal(*tests)  # the seeds' test parts differ


def test_a_bench_seed_picks_what_curate_select_picks_on_its_train_rows(tmp_path, glosses):
    """bench = run: the bench selects from its train part with the pool's own ids after
    the run's dedup, so `curate select` on those rows (duplicates and all) with the same
    seed, budget and selector chooses the same rows."""
    from curate.bench.protocol import prepare, resolve_budgets
    from curate.config import ClusterConfig, Config, DataConfig, OutputConfig
    from curate.run import run_curation
    from curate.selectors import make_selector
    from curate.store import ArtifactCache

    copies = glosses.head(40).with_columns(pl.col("id") + "-copy",
                                           pl.col("text").str.to_uppercase())
    path = tmp_path / "pool.jsonl"
    pl.concat([glosses, copies]).write_ndjson(path)  # 40 exact duplicates (case folded)
    cfg = Config(data=DataConfig(path=path), cluster=ClusterConfig(k=8, niter=10, nredo=1),
                 output=OutputConfig(dir=tmp_path / "runs", cache_dir=tmp_path / "cache"))
    seed, spec = 3, "5%"
    workload = prepare(cfg, ArtifactCache(cfg.output.cache_dir),
                       split_seed=split_seeds(cfg.bench)[seed])
    train = workload.pool.frame[workload.train_rows]
    assert not train["id"].str.ends_with("-copy").any()  # deduplicated like a run
    # The user's rows: the train part plus the duplicates of its rows that dedup dropped.
    with_copies = pl.concat([train, copies.filter(
        pl.col("id").str.strip_suffix("-copy").is_in(train["id"].implode()))])
    assert with_copies.height > train.height
    rows_path = tmp_path / "train.jsonl"
    with_copies.write_ndjson(rows_path)
    pool_row = dict(zip(workload.view.ids, workload.train_rows, strict=True))
    # Per label (stratified), and on the whole pool's clustering (the run's cluster stage).
    for name, stratify in (("random", "auto"), ("kmeans-nearest", "auto"),
                           ("kmeans-nearest", False), ("auto", "auto")):
        budget = resolve_budgets(workload, [spec], stratify)[spec]
        picked = make_selector(name).select(workload.view, budget, seed)["id"]
        bench_ids = set(workload.pool.ids[[pool_row[i] for i in picked]])
        run_cfg = cfg.model_copy(update={
            "data": DataConfig(path=rows_path),
            "select": cfg.select.model_copy(update={"selector": name, "budget": spec,
                                                    "stratify": stratify}),
            "run": cfg.run.model_copy(update={"seed": seed, "name": f"{name}-{stratify}"})})
        run_ids = set(pl.read_parquet(run_curation(run_cfg) / "selection.parquet")["id"])
        assert len(bench_ids) == budget.total and bench_ids == run_ids, (name, stratify)


def test_selector_specs_carry_parameters():
    from curate.bench.specs import make_selectors, parse_spec, split_specs
    from curate.errors import CurateError

    assert split_specs("random, kmq[quality=ifd,temperature=0.5],typiclust") == [
        "random", "kmq[quality=ifd,temperature=0.5]", "typiclust"]
    assert parse_spec("kmq[quality=ifd,temperature=0.5]") == (
        "kmq", {"quality": "ifd", "temperature": 0.5})
    built = make_selectors(["kmq[temperature=0.5]", "kmq"])
    assert built["kmq[temperature=0.5]"].temperature == 0.5 and built["kmq"].temperature == 1.0
    with pytest.raises(CurateError, match="temperature"):
        make_selectors(["kmq[temperature=0]"])
    with pytest.raises(CurateError, match="param=value"):
        parse_spec("kmq[quality]")
