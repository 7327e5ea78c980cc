import numpy as np
import pytest

from curate.budget import resolve_budget
from curate.errors import CurateError


@pytest.mark.parametrize(("spec", "expected"), [
    (100, 100), ("100", 100), (0.02, 20), ("0.02", 20), ("2%", 20), ("2.5%", 25), (1.0, 1),
])
def test_counts_and_fractions(spec, expected):
    assert resolve_budget(spec, 1000).total == expected


def test_per_label():
    labels = np.array(["a"] * 30 + ["b"] * 12)
    budget = resolve_budget("10 per label", 42, labels)
    assert budget.per_label == {"a": 10, "b": 10} and budget.total == 20
    assert resolve_budget("10-per-label", 42, labels).total == 20


@pytest.mark.parametrize(("spec", "message"), [
    (0, "must be positive"), (-3, "must be positive"), ("0%", "must be positive"),
    ("lots", "cannot read budget"), (1.5, "not a whole number"), ("150%", "more than the whole"),
    ("0.0001", "is 0 rows"),
])
def test_bad_budgets(spec, message):
    with pytest.raises(CurateError, match=message):
        resolve_budget(spec, 1000)


def test_budget_larger_than_pool():
    with pytest.raises(CurateError, match=r"larger than the pool \(50 rows\).*--allow-smaller"):
        resolve_budget(80, 50)
    assert resolve_budget(80, 50, allow_smaller=True).total == 50


def test_per_label_needs_labels_and_enough_rows():
    with pytest.raises(CurateError, match="needs labels"):
        resolve_budget("5 per label", 10)
    labels = np.array(["a"] * 10 + ["b"] * 3)
    with pytest.raises(CurateError, match="label 'b' has 3 rows, fewer than 5"):
        resolve_budget("5 per label", 13, labels)
    assert resolve_budget("5 per label", 13, labels, allow_smaller=True).per_label == {"a": 5,
                                                                                       "b": 3}


def test_stratified_split_follows_label_frequency():
    labels = np.array(["a"] * 700 + ["b"] * 200 + ["c"] * 95 + ["d"] * 5)
    budget = resolve_budget("2%", 1000, labels, stratify="auto")
    assert budget.stratified and budget.total == 20
    # exact shares 14, 4, 1.9, 0.1: floors 14, 4, 1, 0; the remainder (1) goes to c (0.9);
    # d would get nothing, so it takes one row from the largest share
    assert budget.per_label == {"a": 13, "b": 4, "c": 2, "d": 1}


def test_stratified_split_properties():
    rng = np.random.default_rng(0)
    for _ in range(200):
        sizes = rng.integers(1, 50, size=rng.integers(1, 12))
        labels = np.repeat([f"label-{i:02d}" for i in range(len(sizes))], sizes)
        n = int(rng.integers(1, sizes.sum() + 1))
        shares = np.array(list(resolve_budget(n, len(labels), labels, stratify=True)
                               .per_label.values()))
        assert shares.sum() == n and (shares <= sizes[:len(shares)]).all()
        if n >= len(sizes):  # every label gets a row when the budget allows
            assert len(shares) == len(sizes) and (shares >= 1).all()


def test_stratify_needs_labels_and_auto_needs_none():
    with pytest.raises(CurateError, match="stratify is true but the pool has no label column"):
        resolve_budget(10, 100, stratify=True)
    assert resolve_budget(10, 100, stratify="auto") == resolve_budget(10, 100)
    labels = np.array(["a"] * 50 + ["b"] * 50)
    assert not resolve_budget(10, 100, labels, stratify=False).stratified
