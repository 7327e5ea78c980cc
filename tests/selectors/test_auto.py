"""auto: one rule table from the regime; its choice and reason reach the selection."""

import numpy as np
import pytest

from curate.budget import resolve_budget
from curate.selectors import make_selector
from curate.selectors.auto import RULES
from tests.selectors.helpers import view_of


@pytest.fixture
def labelled(blobs):
    x, labels = blobs
    return view_of(x, labels=np.array([f"class-{v}" for v in labels]))


@pytest.mark.parametrize(("target", "params", "spec", "expected"), [
    (True, {}, "2%", "ot"),
    (False, {"quality": "q"}, "2%", "kmq"),
    (False, {}, "2%", "kmeans-nearest"),
    (False, {}, "5 per label", "kmeans-nearest"),
    (False, {}, "10%", "kmeans-nearest"),
    (False, {}, "11%", "random"),
    (False, {}, "80 per label", "random"),
])
def test_rule_table(labelled, target, params, spec, expected):
    if not target:
        labelled.target = None
    labelled.scores["q"] = np.linspace(0, 1, len(labelled))
    budget = resolve_budget(spec, len(labelled), labelled.labels, stratify="auto")
    selector = make_selector("auto", params)
    table = selector.select(labelled, budget, seed=0)
    assert selector.choice_ == expected and table.height == budget.total
    assert (table["selector"] == "auto").all()
    assert table["reason"].str.starts_with(f"auto chose {expected}: ").all()
    rule = next(r for r in RULES if r.selector == expected)
    assert selector.reason_.startswith(f"{rule.when}: ") and "% of the pool" in selector.reason_


def test_auto_picks_what_its_choice_picks(labelled):
    labelled.target = None
    budget = resolve_budget("3 per label", len(labelled), labelled.labels)
    auto = make_selector("auto").select(labelled, budget, seed=4)
    direct = make_selector("kmeans-nearest").select(labelled, budget, seed=4)
    assert auto["id"].to_list() == direct["id"].to_list()


def test_with_a_target_the_stratified_split_is_ignored(labelled):
    budget = resolve_budget(60, len(labelled), labelled.labels, stratify=True)
    assert budget.stratified and set(budget.per_label.values()) == {10}
    table = make_selector("auto").select(labelled, budget, seed=0)
    picked = labelled.labels[np.searchsorted(labelled.ids, table["id"].to_numpy())]
    # the target (every third row) is spread like the pool here; ot follows the target, not
    # the per-label shares, so at least one label gets other than its 10 rows
    assert table.height == 60 and sorted(np.unique(picked, return_counts=True)[1]) != [10] * 6


def test_every_rule_names_its_evidence():
    assert all(rule.evidence and rule.selector for rule in RULES)
    assert RULES[-1].when == "otherwise"
