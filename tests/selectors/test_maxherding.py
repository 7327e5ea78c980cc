"""maxherding as a selector: coverage of each label's rows, reasons, parameters."""

import numpy as np

from curate.budget import resolve_budget
from curate.selectors import make_selector
from tests.selectors.helpers import view_of


def test_one_pick_per_blob_before_any_second(blobs):
    x, labels = blobs
    table = make_selector("maxherding").select(view_of(x), resolve_budget(6, len(x), None), 0)
    rows = [int(i.split("-")[1]) for i in table["id"]]
    assert sorted(labels[rows].tolist()) == list(range(6))
    assert table["reason"][0].startswith("raises kernel coverage by")


def test_per_label_budget_and_a_given_sigma(blobs):
    x, labels = blobs
    view = view_of(x, labels=labels.astype(str))
    budget = resolve_budget("2 per label", len(x), view.labels)
    table = make_selector("maxherding", {"sigma": 0.3}).select(view, budget, 0)
    rows = np.array([int(i.split("-")[1]) for i in table["id"]])
    assert np.bincount(labels[rows]).tolist() == [2] * 6
    assert "sigma 0.300" in table["reason"][0]
