"""The finetune evaluator on a toy two-topic task with a tiny random BERT built here."""

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from curate.bench.finetune import FinetuneEvaluator
from curate.cli import app
from curate.config import FinetuneConfig
from curate.data import Pool, Schema
from curate.errors import CurateError

TOPICS = {"sport": ["goal", "match", "team", "score", "coach", "league", "striker", "referee"],
          "food": ["bread", "soup", "cheese", "apple", "recipe", "oven", "butter", "salad"]}
pytestmark = pytest.mark.usefixtures("one_thread")
FILLER = ["the", "a", "and", "of", "today", "new"]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> str:
    """A 2-layer, 32-wide random BERT and a word-piece tokenizer over the toy words."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    words = [w for topic in TOPICS.values() for w in topic] + FILLER
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    tokenizer = BertTokenizerFast(vocab={token: i for i, token in enumerate(tokens)})
    assert tokenizer.unk_token_id not in tokenizer(" ".join(words))["input_ids"]
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                                 num_attention_heads=2, intermediate_size=64,
                                 max_position_embeddings=64))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def toy_frame(n: int = 60, seed: int = 0) -> pl.DataFrame:
    """Texts of 6 words: 3 from the row's topic, 3 fillers; labels alternate."""
    rng = np.random.default_rng(seed)
    labels = [list(TOPICS)[i % 2] for i in range(n)]
    texts = [" ".join(rng.permutation([*rng.choice(TOPICS[label], 3), *rng.choice(FILLER, 3)]))
             for label in labels]
    return pl.DataFrame({"id": [f"r{i:03d}" for i in range(n)], "text": texts, "label": labels})


@pytest.fixture(scope="module")
def toy_pool() -> Pool:
    return Pool(frame=toy_frame(), schema=Schema(text="text", label="label"), origin="toy")


TRAIN, TEST = np.arange(40), np.arange(40, 60)


def settings(model: str, **overrides) -> FinetuneConfig:
    # the tiny random encoder learns slowly at BERT's 5e-5; a higher rate keeps this in seconds
    return FinetuneConfig(**{"model": model, "device": "cpu", "learning_rate": 1e-3,
                             "min_steps": 30, **overrides})


def test_training_learns_a_separable_task(tiny_bert, toy_pool):
    evaluator = FinetuneEvaluator(toy_pool, TEST, settings(tiny_bert))
    scores = evaluator.score(TRAIN, seed=0)
    # chance is 0.5; labels swapped between head and classes would give about 0
    assert scores["accuracy"] >= 0.9 and scores["macro_f1"] >= 0.9, scores
    assert evaluator.model_.head.out_features == 2


def test_same_seed_same_model_other_seed_other_model(tiny_bert, toy_pool):
    evaluator = FinetuneEvaluator(toy_pool, TEST, settings(tiny_bert, epochs=1, min_steps=4))
    rows = TRAIN[:24]
    first = evaluator.score(rows, seed=3)
    head = evaluator.model_.head.weight.detach().clone()
    assert evaluator.score(rows, seed=3) == first
    assert np.array_equal(head.numpy(), evaluator.model_.head.weight.detach().numpy())
    evaluator.score(rows, seed=4)
    assert not np.array_equal(head.numpy(), evaluator.model_.head.weight.detach().numpy())


def test_lora_trains_only_adapters_and_head(tiny_bert, toy_pool):
    evaluator = FinetuneEvaluator(toy_pool, TEST, settings(
        tiny_bert, mode="lora", learning_rate=1e-2, head_learning_rate=1e-2, min_steps=20))
    before = {k: v.clone() for k, v in evaluator.encoder_.state_dict().items()}
    scores = evaluator.score(TRAIN, seed=0)
    model = evaluator.model_
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    assert trainable and all("lora_" in name or name.startswith("head.") for name in trainable)
    assert sum("lora_" in name for name in trainable) == 2 * 2 * 2  # A, B x query, value x 2
    assert not any("lora_" in name for name in frozen)
    assert sum(model.get_parameter(n).numel() for n in trainable) < 0.1 * sum(
        p.numel() for p in model.parameters())
    # the shared encoder is copied per score: training never touches it
    after = evaluator.encoder_.state_dict()
    assert all(np.array_equal(before[k].numpy(), after[k].numpy()) for k in before)
    assert scores["accuracy"] >= 0.8, scores


def test_one_label_predicts_it_everywhere(tiny_bert, toy_pool):
    evaluator = FinetuneEvaluator(toy_pool, TEST, settings(tiny_bert))
    scores = evaluator.score(np.array([0, 2, 4]), seed=0)  # all "sport"
    assert evaluator.model_ is None and scores["accuracy"] == 0.5


def test_large_test_part_is_a_seeded_sample_of_every_label(tiny_bert):
    frame = toy_frame(60).sort("label")  # sorted by label, as builtin pools are
    pool = Pool(frame=frame, schema=Schema(text="text", label="label"), origin="toy")
    evaluator = FinetuneEvaluator(pool, np.arange(60), settings(tiny_bert, max_test_rows=10))
    again = FinetuneEvaluator(pool, np.arange(60), settings(tiny_bert, max_test_rows=10))
    assert len(evaluator.test_rows) == 10 and len(set(pool.labels()[evaluator.test_rows])) == 2
    assert np.array_equal(evaluator.test_rows, again.test_rows)
    assert len(evaluator.test_["input_ids"]) == 10


def test_pools_without_text_or_labels_are_refused(tiny_bert, toy_pool):
    vectors = pl.DataFrame({"id": ["a", "b"], "x": [[0.0, 1.0], [1.0, 0.0]],
                            "label": ["p", "q"]})
    pool = Pool(frame=vectors, schema=Schema(vectors="x", label="label"), origin="vectors")
    with pytest.raises(CurateError, match="needs text rows"):
        FinetuneEvaluator(pool, np.array([1]), settings(tiny_bert))
    unlabelled = Pool(frame=toy_pool.frame.drop("label"), schema=Schema(text="text"),
                      origin="toy")
    with pytest.raises(CurateError, match="needs labels"):
        FinetuneEvaluator(unlabelled, TEST, settings(tiny_bert))


def test_bench_cli_refuses_a_pool_without_text(tmp_path):
    path = tmp_path / "vectors.parquet"
    rng = np.random.default_rng(0)
    pl.DataFrame({"id": [f"v{i}" for i in range(40)], "x": rng.normal(size=(40, 4)).tolist(),
                  "label": ["p", "q"] * 20}).write_parquet(path)
    config = tmp_path / "bench.yaml"
    config.write_text(f"data:\n  path: {path}\n  vector_column: x\n  label_column: label\n"
                      f"output:\n  cache_dir: {tmp_path / 'cache'}\n")
    result = CliRunner().invoke(app, ["bench", str(config), "--evaluator", "finetune",
                                      "--selectors", "random", "--budgets", "10",
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code != 0 and "needs text rows" in result.stderr


def test_bench_cli_runs_the_finetune_evaluator(tmp_path, tiny_bert):
    path = tmp_path / "toy.jsonl"
    toy_frame(60).write_ndjson(path)
    config = tmp_path / "bench.yaml"
    config.write_text(f"data:\n  path: {path}\nembed:\n  model: {tiny_bert}\n"
                      f"output:\n  cache_dir: {tmp_path / 'cache'}\n"
                      f"bench:\n  finetune:\n    model: {tiny_bert}\n    learning_rate: 0.001\n"
                      f"    min_steps: 20\n")
    result = CliRunner().invoke(app, ["bench", str(config), "--evaluator", "finetune",
                                      "--selectors", "random", "--budgets", "8-per-label",
                                      "--seeds", "1", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.stderr
    results = pl.read_parquet(tmp_path / "out" / "results.parquet")
    assert set(results["metric"]) == {"accuracy", "macro_f1"}
    assert results["error"].is_null().all()
    assert results.filter(pl.col("selector") == "full", pl.col("metric") == "accuracy")[
        "value"].item() >= 0.9
