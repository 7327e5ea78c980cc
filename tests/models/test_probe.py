"""The probe's tuned C: chosen by cross-validation on the picks, reported beside C=10."""

import numpy as np
import pytest

from curate.models.probe import ProbeEvaluator
from tests.conftest import unit_rows


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    return unit_rows(data.data + 1e-3), data.target.astype(str)


def test_the_tuned_c_is_the_one_cross_validation_chose(digits):
    x, y = digits
    test = np.arange(1000, 1797)
    train = np.arange(0, 200)
    probe = ProbeEvaluator(x, y, test, tuned_cs=(0.01, 1.0, 100.0))
    metrics = probe.score(train, seed=0)
    chosen = float(np.unique(probe.model_.C_)[0])
    assert chosen in (0.01, 1.0, 100.0)
    fixed = ProbeEvaluator(x, y, test, C=chosen).score(train, seed=0)
    assert metrics["accuracy_tuned_c"] == fixed["accuracy"]
    assert metrics["accuracy"] == ProbeEvaluator(x, y, test).score(train, 0)["accuracy"]
    # 0.01 underfits 200 digits: cross-validation must not choose it
    assert chosen != 0.01


def test_a_label_with_one_row_keeps_the_fixed_c(digits):
    x, y = digits
    train = np.concatenate([np.flatnonzero(y == "0")[:1], np.flatnonzero(y != "0")[:60]])
    metrics = ProbeEvaluator(x, y, np.arange(1000, 1797), tuned_cs=(0.01, 100.0)).score(train, 0)
    assert metrics["accuracy_tuned_c"] == metrics["accuracy"]


def test_without_tuned_cs_only_the_fixed_c_is_scored(digits):
    x, y = digits
    assert set(ProbeEvaluator(x, y, np.arange(1000, 1100)).score(np.arange(100), 0)) == {
        "accuracy", "macro_f1"}
