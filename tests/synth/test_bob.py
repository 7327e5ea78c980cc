"""BOB: the context bank, marginalised context draws, and the text backend (tiny random LM)."""

import numpy as np
import polars as pl
import pytest
from scipy import stats
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.metrics import mutual_info_score

from curate.data import Pool, Schema
from curate.synth import Services, make_generator
from curate.synth.bob import ContextBank, marginal_plan


def skewed_bank(rng) -> ContextBank:
    """300 rows whose context depends strongly on the class (80% one phrase per class)."""
    labels = np.repeat(["a", "b", "c"], 100)
    phrases = np.array(["formal", "casual", "listing"])
    own = rng.random(300) < 0.8
    contexts = np.where(own, phrases[np.searchsorted(["a", "b", "c"], labels)],
                        phrases[rng.integers(0, 3, 300)])
    return ContextBank(np.array([f"r{i}" for i in range(300)]), labels,
                       pl.DataFrame({"style": contexts}))


def test_per_class_context_follows_the_bank_and_carries_no_class_information():
    rng = np.random.default_rng(0)
    bank = skewed_bank(rng)
    plan = marginal_plan(bank, {"a": 3000, "b": 3000, "c": 3000}, np.random.default_rng(1))
    targets = np.array([label for label, _ in plan])
    drawn = bank.contexts["style"].to_numpy()[[row for _, row in plan]]
    phrases, bank_counts = np.unique(bank.contexts["style"].to_numpy(), return_counts=True)
    for label in "abc":
        counts = np.array([(drawn[targets == label] == p).sum() for p in phrases])
        expected = bank_counts / bank_counts.sum() * counts.sum()
        assert stats.chisquare(counts, expected).pvalue > 0.001
    assert mutual_info_score(targets, drawn) < 0.002
    assert mutual_info_score(bank.labels, bank.contexts["style"]) > 0.3  # the bank's own MI
    again = marginal_plan(bank, {"a": 3000, "b": 3000, "c": 3000}, np.random.default_rng(1))
    assert again == plan


def test_class_names_are_scrubbed_from_the_bank():
    bank = ContextBank(np.array(["r0", "r1"]), np.array(["noun.food", "sport"]),
                       pl.DataFrame({"background": ["a Sport stadium", "a kitchen"],
                                     "pose": ["eating noun.food", "sports pose"]}))
    clean = bank.scrubbed(["noun.food", "sport"])
    assert clean.contexts.to_dicts() == [{"background": "a stadium", "pose": "eating"},
                                         {"background": "a kitchen", "pose": "sports pose"}]


def hashed(pool: Pool) -> np.ndarray:
    x = HashingVectorizer(n_features=512).transform(pool.texts()).toarray()
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


@pytest.fixture
def few_glosses(glosses):
    frame = glosses.filter(pl.int_range(pl.len()).over("label") < 8)
    rng = np.random.default_rng(0)
    frame = frame.with_columns(
        background=pl.Series(rng.choice(["a field", "a kitchen", "a street"], frame.height)),
        pose=pl.Series(rng.choice(["sitting", "running"], frame.height)))
    return Pool(frame=frame, schema=Schema(text="text", label="label"), origin="glosses")


def test_text_backend_rows_carry_one_bank_row_each_and_repeat_under_a_seed(tiny_lm,
                                                                           few_glosses):
    params = {"model": tiny_lm, "context_columns": ["background", "pose"],
              "max_new_tokens": 8}
    services = Services(embed=hashed)
    rows = [make_generator("bob-text", params).fit(few_glosses, seed=2, services=services)
            .generate({"noun.food": 4, "verb.motion": 3}, seed=5, filtered=False)
            for _ in range(2)]
    assert rows[0].equals(rows[1])
    assert rows[0]["label"].to_list() == ["noun.food"] * 4 + ["verb.motion"] * 3
    assert (rows[0]["source"] == "bob-text").all() and rows[0]["id"].str.starts_with(
        "synth-").all()
    bank = few_glosses.frame.select("id", "background", "pose")
    for row in rows[0].iter_rows(named=True):  # the context is one bank row's, jointly
        parent = bank.filter(pl.col("id") == row["parent_id"]).row(0, named=True)
        assert f"background: {parent['background']}; pose: {parent['pose']}" in row["reason"]


def test_probe_filter_keeps_only_rows_assigned_to_their_intended_class(tiny_lm, few_glosses):
    gen = make_generator("bob-text", {"model": tiny_lm, "context_columns": ["pose"],
                                      "max_new_tokens": 8, "max_rounds": 2}).fit(
        few_glosses, seed=0, services=Services(embed=hashed))
    raw = gen.generate({"noun.animal": 6, "noun.food": 6, "verb.motion": 6}, seed=1,
                       filtered=False)
    kept = gen.generate({"noun.animal": 6, "noun.food": 6, "verb.motion": 6}, seed=1)
    predicted = gen.probe_.predict(hashed(Pool(frame=kept, schema=gen.schema_, origin="k")))
    assert np.array_equal(predicted, kept["label"].to_numpy())
    raw_predicted = gen.probe_.predict(hashed(Pool(frame=raw, schema=gen.schema_, origin="r")))
    assert (raw_predicted != raw["label"].to_numpy()).any()  # the filter had work to do
    assert kept["reason"].str.contains("probe P").all()
