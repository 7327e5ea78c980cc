"""Every registered selector through the same checks (our twin of sklearn's check_estimator)."""

import inspect

import numpy as np
import pytest

from curate.budget import resolve_budget
from curate.errors import CurateError
from curate.scoring.lm_scores import lm_scores_named
from curate.selectors import available, make_selector
from curate.selectors.base import SELECTION_SCHEMA
from tests.conftest import unit_rows
from tests.constraint_checks import (
    check_declared_for_every_parameter,
    check_defaults_satisfy_constraints,
    check_invalid_values_refused,
)
from tests.selectors.helpers import view_of
from tests.selectors.stand_ins import with_lm_stand_ins

SELECTORS = sorted(available())


def select(name, view, spec, seed=0, allow_smaller=False):
    budget = resolve_budget(spec, len(view), view.labels, allow_smaller)
    selector = make_selector(name)
    return selector.select(with_lm_stand_ins(view, selector), budget, seed)


@pytest.mark.parametrize("name", [n for n in SELECTORS
                                  if lm_scores_named(make_selector(n).get_params())])
def test_a_view_without_the_lm_scores_a_selector_names_is_refused(name, blobs):
    """Without stand-ins: a one-line CurateError naming the score and the fix."""
    view = view_of(blobs[0])
    with pytest.raises(CurateError, match=r"reads the score '\w+', which this pool lacks "
                                          r"\(the select stage computes it for pools with data"):
        make_selector(name).select(view, resolve_budget(7, len(view), None), 0)


@pytest.mark.parametrize("name", SELECTORS)
def test_exact_budget_unique_ids_from_pool(name, blobs):
    x, _ = blobs
    view = view_of(x)
    for spec in (1, 7, 60, 599, 600):
        table = select(name, view, spec)
        assert table.height == spec and table["id"].n_unique() == spec
        assert set(table["id"]) <= set(view.ids)
        assert dict(table.schema) == SELECTION_SCHEMA
        assert (table["selector"] == name).all() and table["reason"].str.len_chars().min() > 0


@pytest.mark.parametrize("name", SELECTORS)
def test_seed_determinism(name, blobs):
    x, _ = blobs
    a = select(name, view_of(x), 40, seed=3)
    b = select(name, view_of(x), 40, seed=3)
    assert a.equals(b)


@pytest.mark.parametrize("name", SELECTORS)
def test_pool_smaller_than_budget(name):
    x = unit_rows(np.random.default_rng(1).normal(size=(5, 8)))
    with pytest.raises(CurateError, match="larger than the pool"):
        select(name, view_of(x, k=2), 9)
    table = select(name, view_of(x, k=2), 9, allow_smaller=True)
    assert sorted(table["id"]) == sorted(view_of(x).ids)


@pytest.mark.parametrize("name", SELECTORS)
def test_single_cluster(name, blobs):
    x, _ = blobs
    table = select(name, view_of(x[:100], k=1), 25)
    assert table.height == 25 and table["id"].n_unique() == 25


@pytest.mark.parametrize("name", SELECTORS)
def test_duplicate_vectors(name):
    base = unit_rows(np.random.default_rng(2).normal(size=(4, 8)))
    x = np.repeat(base, 10, axis=0)  # 40 rows, only 4 distinct vectors
    table = select(name, view_of(x, k=3), 12)
    assert table.height == 12 and table["id"].n_unique() == 12


@pytest.mark.parametrize("name", SELECTORS)
def test_per_label_budget(name, blobs):
    x, labels = blobs
    view = view_of(x, labels=labels.astype(str))
    table = select(name, view, "5 per label")
    picked = view.labels[np.searchsorted(view.ids, table["id"].to_numpy())]
    assert np.array_equal(np.unique(picked, return_counts=True)[1], [5] * 6)


@pytest.mark.parametrize("name", SELECTORS)
def test_parameters_are_explicit_keywords(name):
    """sklearn-style: every __init__ parameter has a default and is stored as given."""
    cls = available()[name]
    params = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"]
    assert all(p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD for p in params)
    assert all(p.default is not p.empty for p in params)
    assert make_selector(name).get_params() == {p.name: p.default for p in params}


def test_unknown_selector_and_parameter():
    with pytest.raises(CurateError, match=r"unknown selector 'kmqq'.*did you mean 'kmq'"):
        make_selector("kmqq")
    with pytest.raises(CurateError, match="selector 'kmq' has no parameter 'qualty'"):
        make_selector("kmq", {"qualty": "x"})


@pytest.mark.parametrize("name", SELECTORS)
def test_parameter_constraints_cover_every_parameter_and_default(name):
    cls = available()[name]
    check_declared_for_every_parameter(cls)
    check_defaults_satisfy_constraints(cls)


@pytest.mark.parametrize("name", SELECTORS)
def test_invalid_parameter_values_are_refused_when_built(name):
    check_invalid_values_refused(make_selector, "selector", name, available()[name])


def test_kmq_temperature_zero_is_refused_not_divided_by():
    """Previously kmq divided the quality by 0 (infinities and NaN, a numpy warning) in the
    select stage, after the pool was loaded and embedded."""
    with pytest.raises(CurateError, match=r"selector 'kmq': temperature=0 is not in \(0, inf\); "
                                          r"change select.params.temperature"):
        make_selector("kmq", {"temperature": 0})
