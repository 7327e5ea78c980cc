"""Per-label selection (METHODS.md section 6): each label is clustered on its own, and a
few-shot budget goes to a label's dense mode, not to its small outlier clusters."""

import numpy as np
import pytest

from curate.budget import resolve_budget
from curate.selectors import available, make_selector
from tests.conftest import unit_rows
from tests.selectors.helpers import view_of
from tests.selectors.stand_ins import with_lm_stand_ins

CLUSTER_BASED = sorted(name for name, cls in available().items()
                       if cls.needs_clusters or name in ("kmeans-nearest", "typiclust",
                                                         "probcover"))
# dealrec's clusters are only its surrogate's pseudo-labels; ot's pre-filter ranks clusters
# by cost to a target, which sets where its budget goes
CLUSTER_BASED = [name for name in CLUSTER_BASED if name not in ("dealrec", "ot")]


def dense_mode_with_outliers(labels=3, dense=540, outlier_clusters=30, outlier_size=2, d=8,
                             seed=0):
    """Each label: one dense mode and many 2-point outlier clusters around it (10% of rows),
    as spread as the mode itself but off it."""
    rng = np.random.default_rng(seed)
    rows, names, is_dense = [], [], []
    for label in range(labels):
        mode = rng.normal(size=d)
        rows.append(mode + rng.normal(scale=0.3, size=(dense, d)))
        for _ in range(outlier_clusters):
            centre = mode + rng.normal(size=d)
            rows.append(centre + rng.normal(scale=0.3, size=(outlier_size, d)))
        size = dense + outlier_clusters * outlier_size
        names += [f"label-{label}"] * size
        is_dense += [True] * dense + [False] * (size - dense)
    return unit_rows(np.concatenate(rows)), np.array(names), np.array(is_dense)


@pytest.mark.parametrize("name", CLUSTER_BASED)
def test_ten_per_label_draws_from_the_dense_mode(name):
    x, labels, is_dense = dense_mode_with_outliers()
    view = view_of(x, k=64, labels=labels)  # kMQ's K: 64 clusters per label
    for seed in range(3):
        table = make_selector(name).select(view, resolve_budget("10 per label", len(x), labels),
                                           seed)
        rows = np.searchsorted(view.ids, table["id"].to_numpy())
        assert is_dense[rows].mean() >= 0.8, (name, seed, is_dense[rows].mean())


@pytest.mark.parametrize("name", sorted(set(available()) - {"ot"}))
def test_a_label_budget_is_spent_on_that_label_only(name):
    x, labels, _ = dense_mode_with_outliers(labels=3, dense=60, outlier_clusters=5)
    budget = resolve_budget(24, len(x), labels, stratify=True)
    view = with_lm_stand_ins(view_of(x, k=8, labels=labels), make_selector(name))
    view.target = None  # with a target, auto hands the whole budget to ot
    table = make_selector(name).select(view, budget, seed=1)
    picked = labels[np.searchsorted(view.ids, table["id"].to_numpy())]
    names, counts = np.unique(picked, return_counts=True)
    assert dict(zip(names, counts.tolist(), strict=True)) == budget.per_label


def test_each_label_is_clustered_on_its_own_rows():
    x, labels, _ = dense_mode_with_outliers(labels=2, dense=50, outlier_clusters=5)
    calls = []

    def clusterer(rows, group, k, seed, overrides=None, hashes=None):
        calls.append((group, len(rows), k, seed))
        return rows[:1].copy(), np.zeros(len(rows), dtype=np.int64)

    view = view_of(x, labels=labels)
    view.cluster_fn = clusterer
    make_selector("kmq").select(view, resolve_budget("5 per label", len(x), labels), seed=7)
    assert sorted(calls) == [("label=label-0", 60, None, 7), ("label=label-1", 60, None, 7)]


def test_a_label_picks_the_same_rows_whatever_other_labels_exist():
    x, labels, _ = dense_mode_with_outliers(labels=3, dense=60, outlier_clusters=5)
    full = view_of(x, labels=labels)
    keep = labels != "label-2"
    part = view_of(x[keep], labels=labels[keep])
    part.ids = full.ids[keep]
    for name in ("random", "kmq", "typiclust"):
        a = make_selector(name).select(full, resolve_budget("4 per label", len(x), labels), 3)
        b = make_selector(name).select(part, resolve_budget("4 per label", keep.sum(),
                                                            labels[keep]), 3)
        assert set(a["id"]) - set(b["id"]) == set(a.filter(
            a["id"].is_in(full.ids[~keep].tolist()))["id"]), name
