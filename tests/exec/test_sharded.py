"""Selection from a sharded pool equals selection in memory, for every registered selector.

3,000 Fashion-MNIST images (L2-normalised pixels) in 12 shards of a shuffled row order:
selectors with a plan pick from the shards' maps; the rest gather the rows first. Either
way the ids, their order and their reasons equal the in-memory selector's.
"""

import numpy as np
import pytest

from curate.budget import resolve_budget
from curate.errors import CurateError
from curate.index import kmeans_clusterer
from curate.selectors import SelectionView, available, make_selector
from tests.exec.helpers import (
    CLUSTER,
    PLANNED,
    PLANNED_UNLABELLED,
    budget_for,
    same_selection,
    sharded,
    view_of,
)
from tests.selectors.stand_ins import lm_stand_ins


# ot needs a target (below); kcenter's plan is an approximation (its own test below)
@pytest.mark.parametrize("selector", sorted(set(available()) - {"ot", "kcenter"}))
@pytest.mark.parametrize("spec", ["2%", "10 per label"])
def test_sharded_selection_equals_in_memory(images, selector, spec):
    budget = budget_for(images, spec)
    stand_ins = lm_stand_ins(images[0], make_selector(selector))  # longest, deita
    for seed in (2, 3):
        view = view_of(images)
        view.scores.update(stand_ins)
        local = make_selector(selector).select(view, budget, seed)
        pool = sharded(images)
        for shard in pool.shards:
            shard.columns.update(lm_stand_ins(shard.ids, make_selector(selector)))
        if selector in PLANNED:
            pool.gather_limit = 0  # picks from the maps alone
        spread = make_selector(selector).select_sharded(pool, budget, seed)
        same_selection(local, spread)


def test_sharded_selection_without_labels(images):
    ids, x, _ = images
    view = SelectionView(ids=ids, embeddings=x, cluster_fn=kmeans_clusterer(CLUSTER))
    budget = resolve_budget("60", len(ids), None, False, "auto")
    pool = sharded((ids, x, None))
    pool.gather_limit = 0
    for name in sorted(PLANNED_UNLABELLED):
        same_selection(make_selector(name).select(view, budget, 1),
                       make_selector(name).select_sharded(pool, budget, 1))


def test_ot_gathers_with_its_target(images):
    target = images[1][images[2] == images[2][0]][:40]
    budget = budget_for(images, "1%")
    same_selection(make_selector("ot").select(view_of(images, target), budget, 0),
                   make_selector("ot").select_sharded(sharded(images, target=target),
                                                      budget, 0))


def test_a_selector_without_a_plan_refuses_to_gather_past_the_limit(images):
    pool = sharded(images)
    pool.gather_limit = 1024
    with pytest.raises(CurateError, match="typiclust has no sharded plan"):
        make_selector("typiclust").select_sharded(pool, budget_for(images, "1%"), 0)
    # one with a plan never gathers
    make_selector("kmeans-nearest").select_sharded(pool, budget_for(images, "1%"), 0)


def test_auto_at_one_row_per_label_sharded(images):
    """prototypes, gathered, as in memory; past the gather limit the rule's first
    candidate from the shards, and the reason says why."""
    budget = budget_for(images, "1 per label")
    same_selection(make_selector("auto").select(view_of(images), budget, 0),
                   make_selector("auto").select_sharded(sharded(images), budget, 0))
    pool = sharded(images)
    pool.gather_limit = 0
    selector = make_selector("auto")
    selector.select_sharded(pool, budget, 0)
    assert selector.choice_ == "kmeans-nearest"
    assert "prototypes skipped (auto has no sharded plan" in selector.reason_


def test_auto_few_shot_past_the_gather_limit_keeps_its_first_candidate(images):
    """At 2% every candidate but kmeans-nearest needs the rows gathered: past the limit
    each is skipped, the reason names it, and the selection is kmeans-nearest's plan."""
    budget = budget_for(images, "2%")
    pool = sharded(images)
    pool.gather_limit = 0
    selector = make_selector("auto")
    chosen = selector.select_sharded(pool, budget, 0)
    assert selector.choice_ == "kmeans-nearest"
    # the label-fitting ones gather through auto (with the held-out rows marked)
    for name, gatherer in (("typiclust", "typiclust"), ("bilevel", "auto"),
                           ("prototypes", "auto"), ("maxherding", "maxherding")):
        assert f"{name} skipped ({gatherer} has no sharded plan" in selector.reason_
    planned = make_selector("kmeans-nearest").select_sharded(pool, budget, 0)
    assert chosen["id"].to_list() == planned["id"].to_list()


def l2_radius(x: np.ndarray, centres: np.ndarray) -> float:
    return float(np.sqrt(max(0.0, 2 * np.max(np.min(1 - x @ x[centres].T, axis=1)))))


def test_auto_at_a_large_budget_sharded(images):
    """Above few-shot auto's candidates select apart from the validation draw: from the
    shards without those rows, as in memory."""
    budget = budget_for(images, "30%")
    for seed in (0, 1):
        local, spread = make_selector("auto"), make_selector("auto")
        same_selection(local.select(view_of(images), budget, seed),
                       spread.select_sharded(sharded(images), budget, seed))
        assert local.reason_ == spread.reason_ and "validated on" in local.reason_


def test_kcenter_composable_coreset_keeps_its_reported_bound(images):
    ids, x, _ = images
    unlabelled = (ids, x, None)
    budget = resolve_budget("40", len(ids), None, False, "auto")
    view = SelectionView(ids=ids, embeddings=x)
    exact = make_selector("kcenter").select(view, budget, 0)
    # one shard: the exact greedy
    one = sharded(unlabelled)
    one.shards = [type(one.shards[0])(ids=ids, vectors=x)]
    same_selection(exact, make_selector("kcenter").select_sharded(one, budget, 0))
    spread = make_selector("kcenter").select_sharded(sharded(unlabelled), budget, 0)
    picks = np.searchsorted(ids, spread["id"].to_numpy())
    assert len(np.unique(picks)) == 40
    bound = float(spread["reason"][0].split("<= ")[1].split(" ")[0])
    radius = l2_radius(x, picks)
    greedy = l2_radius(x, np.searchsorted(ids, exact["id"].to_numpy()))
    # the bound holds, and the guarantee: within 4x the optimum, which is <= the greedy's
    assert radius <= bound + 1e-4 and radius <= 4 * greedy + 1e-6
