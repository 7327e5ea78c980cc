"""auto: one rule table from the regime; its choice and reason reach the selection; between
a rule's candidates the probe on held-out pool rows decides."""

import itertools
import re
from dataclasses import replace

import numpy as np
import pytest

from curate.budget import resolve_budget
from curate.selectors import make_selector
from curate.selectors.auto import RULES, Regime
from tests.selectors.helpers import view_of


@pytest.fixture(scope="module")
def digits_view():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    view = view_of(x, labels=np.array([f"digit-{v}" for v in y]))
    view.target = None
    return view


@pytest.fixture
def labelled(blobs):
    x, labels = blobs
    return view_of(x, labels=np.array([f"class-{v}" for v in labels]))


FEW_SHOT = next(rule.selectors for rule in RULES if rule.id == "few-shot")
THIN = next(rule.thin for rule in RULES if rule.id == "few-shot")
LARGE = next(rule.selectors for rule in RULES if rule.id == "large-labelled")


def validated_choice(hits: dict, candidates: tuple[str, ...], margin: float = 1.0) -> str:
    """The first candidate unless others lead it by more than `margin` standard errors:
    then the most accurate of those (the earlier on a tie)."""
    first, *others = candidates
    leaders = [name for name in others if mcnemar_lead(hits[name], hits[first]) > margin]
    return max(leaders, key=lambda name: (hits[name].mean(), -candidates.index(name)),
               default=first)


@pytest.mark.parametrize(("target", "params", "spec", "instruction", "rule_id"), [
    (True, {}, "2%", False, "target-set"),
    (False, {"quality": "q"}, "2%", False, "quality-score"),
    (False, {}, "2%", False, "few-shot"),
    (False, {}, "5 per label", False, "few-shot"),
    (False, {}, "10%", False, "few-shot"),
    (False, {}, "11%", False, "large-labelled"),
    (False, {}, "80 per label", False, "large-labelled"),
    # prompt/response rows: random at every budget, unless a target or a quality score
    # says otherwise
    (False, {}, "2%", True, "instruction-pool"),
    (False, {}, "5 per label", True, "instruction-pool"),
    (True, {}, "2%", True, "target-set"),
    (False, {"quality": "q"}, "2%", True, "quality-score"),
])
def test_rule_table(labelled, target, params, spec, instruction, rule_id):
    if not target:
        labelled.target = None
    labelled.instruction = instruction
    labelled.scores["q"] = np.linspace(0, 1, len(labelled))
    budget = resolve_budget(spec, len(labelled), labelled.labels, stratify="auto")
    selector = make_selector("auto", params)
    table = selector.select(labelled, budget, seed=0)
    rule = next(r for r in RULES if r.id == rule_id)
    expected = rule.selectors
    assert selector.choice_ in expected and table.height == budget.total
    assert (table["selector"] == "auto").all()
    # each row: the choice, the rule's id, the regime, whether it was validated; then the
    # chosen selector's own reason
    kind = "labelled, prompt/response rows" if instruction else "labelled"
    regime = f"% of the pool, {kind}; {'validated between ' if len(expected) > 1 else ''}"
    prefix = f"auto chose {selector.choice_} by rule {rule.id} ("
    assert table["reason"].str.starts_with(prefix).all()
    assert table["reason"].str.contains(regime, literal=True).all()
    if len(expected) > 1:
        assert table["reason"].str.contains(" and ".join(expected) + "): ", literal=True).all()
    else:
        assert table["reason"].str.contains("the rule's only candidate): ", literal=True).all()
    # the recorded choice: the rule's id and its evidence link, the regime, the validation
    assert selector.reason_.startswith(f"rule {rule.id} ({rule.evidence}): ")
    assert f"% of the pool, {kind}" in selector.reason_
    assert ("validated on" in selector.reason_) == (len(expected) > 1)


def test_auto_picks_what_its_choice_picks(labelled):
    labelled.target = None
    budget = resolve_budget("3 per label", len(labelled), labelled.labels)
    selector = make_selector("auto")
    auto = selector.select(labelled, budget, seed=4)
    direct = make_selector(selector.choice_).select(labelled, budget, seed=4)
    assert auto["id"].to_list() == direct["id"].to_list()


def probe_hits(view, picked_ids, held_out, seed):
    """The brute-force check: which held-out rows the probe fitted on the picked rows gets
    right."""
    from sklearn.linear_model import LogisticRegression

    train = np.sort(np.searchsorted(view.ids, picked_ids))
    model = LogisticRegression(C=10.0, max_iter=500, random_state=seed)
    model.fit(view.embeddings[train], view.labels[train])
    return model.predict(view.embeddings[held_out]) == view.labels[held_out]


def mcnemar_lead(a, b):
    """How far hits `a` lead hits `b`, in standard errors of the paired difference."""
    return ((a & ~b).sum() - (b & ~a).sum()) / np.sqrt(max((a != b).sum(), 1))


@pytest.mark.parametrize(("spec", "candidates"), [("2%", FEW_SHOT), ("1 per label", THIN)])
@pytest.mark.parametrize("margin", [0.0, 1.0])
def test_validation_keeps_the_first_candidate_unless_another_leads_by_the_margin(
        digits_view, margin, spec, candidates):
    """On 1,797 real digits at 2% and at one row per label (the thin candidates): auto's
    held-out hits equal the probe refitted here on each candidate's rows and scored on the
    held-out rows (a keyed draw of unpicked rows); another candidate replaces the first
    only when it leads by more than `margin` standard errors of the paired difference
    (McNemar's); the selection is the chosen one's."""
    budget = resolve_budget(spec, len(digits_view), digits_view.labels, stratify="auto")
    chosen = set()
    for seed in range(6):
        selector = make_selector("auto", {"validation_rows": 800, "switch_margin": margin})
        table = selector.select(digits_view, budget, seed)
        # the 800 smallest keys of the draw, less the picked rows; the label-fitting
        # candidates select with those rows left out of their fit
        keys = digits_view.with_seed(seed).keys("auto-validation")
        draw = np.zeros(len(keys), dtype=bool)
        draw[np.argsort(keys)[:800]] = True
        view = replace(digits_view, holdout=draw)
        picks = {name: make_selector(name).select(view, budget, seed)["id"].to_numpy()
                 for name in candidates}
        picked = np.isin(digits_view.ids, np.concatenate(list(picks.values())))
        held_out = np.flatnonzero(draw & ~picked)
        hits = {name: probe_hits(digits_view, ids, held_out, seed) for name, ids in picks.items()}
        assert selector.validation_.held_out == len(held_out) > 700
        for name in candidates:
            assert (selector.validation_.correct[name] == hits[name]).all()
        best = validated_choice(hits, candidates, margin)
        assert selector.choice_ == best
        # a label-fitting choice is run again on every row, the others are kept as validated
        again = make_selector(best).select(digits_view, budget, seed)["id"].to_list()
        assert table["id"].to_list() == again
        chosen.add(best)
    if margin == 0.0 and spec == "2%":
        assert len(chosen) > 1  # the check above saw more than one outcome


def test_without_labels_auto_takes_the_first_candidate_unvalidated(labelled):
    unlabelled = view_of(labelled.embeddings)
    unlabelled.target = None
    selector = make_selector("auto")
    budget = resolve_budget("3%", len(unlabelled), None)
    table = selector.select(unlabelled, budget, seed=0)
    direct = make_selector("kmeans-nearest").select(unlabelled, budget, seed=0)
    assert selector.choice_ == "kmeans-nearest" and selector.validation_ is None
    assert "not validated: the pool has no labels" in selector.reason_
    assert table["reason"].str.starts_with(
        f"auto chose kmeans-nearest by rule few-shot ({budget.total} rows of the pool, 3.00% "
        "of the pool, unlabelled; not validated: the pool has no labels): ").all()
    assert table["id"].to_list() == direct["id"].to_list()


def test_above_few_shot_validated_with_labels_random_without(labelled):
    """With labels, validation between random (kept unless another leads it) and the
    herding selectors; without, random."""
    unlabelled = view_of(labelled.embeddings)
    unlabelled.target = None
    labelled.target = None
    for view, rule in ((labelled, "large-labelled"), (unlabelled, "large-budget")):
        selector = make_selector("auto")
        budget = resolve_budget("30%", len(view), view.labels, stratify="auto")
        table = selector.select(view, budget, seed=0)
        direct = make_selector(selector.choice_).select(view, budget, seed=0)
        assert selector.reason_.startswith(f"rule {rule} (")
        assert table["id"].to_list() == direct["id"].to_list()
        if view is labelled:
            assert "validated on" in selector.reason_
            assert list(selector.validation_.correct) == list(LARGE)
            assert selector.choice_ == validated_choice(selector.validation_.correct, LARGE)
        else:
            assert selector.choice_ == "random"


def test_validate_false_takes_the_first_candidate(labelled):
    labelled.target = None
    budget = resolve_budget("3 per label", len(labelled), labelled.labels)
    selector = make_selector("auto", {"validate": False})
    table = selector.select(labelled, budget, seed=0)
    assert selector.choice_ == FEW_SHOT[0] and "validated on" not in selector.reason_
    assert table["reason"].str.contains("; not validated: validation is off): ",
                                        literal=True).all()


def test_with_a_target_the_stratified_split_is_ignored(labelled):
    budget = resolve_budget(60, len(labelled), labelled.labels, stratify=True)
    assert budget.stratified and set(budget.per_label.values()) == {10}
    table = make_selector("auto").select(labelled, budget, seed=0)
    picked = labelled.labels[np.searchsorted(labelled.ids, table["id"].to_numpy())]
    # the target (every third row) is spread like the pool here; ot follows the target, not
    # the per-label shares, so at least one label gets other than its 10 rows
    assert table.height == 60 and sorted(np.unique(picked, return_counts=True)[1]) != [10] * 6


def test_every_rule_names_its_evidence():
    """An id (a slug, unique), candidates and a benchmarks link (that the link names a
    heading, and that no rule quotes a figure: tests/test_no_figures_in_code.py)."""
    ids = [rule.id for rule in RULES]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[a-z]+(-[a-z]+)*", rule_id) for rule_id in ids)
    assert all(rule.selectors and rule.evidence.startswith("benchmarks/") for rule in RULES)
    assert [rule.id for rule in RULES] == ["target-set", "quality-score", "instruction-pool",
                                           "few-shot", "large-labelled", "large-budget"]
    # the last rule is the fallback: it matches every regime
    for flags in itertools.product([False, True], repeat=6):
        target, quality, per_label, few_shot, labelled, instruction = flags
        regime = Regime(has_target=target, has_quality=quality, per_label=per_label,
                        rows_per_group=50.0, rows=100, pool_rows=1000, few_shot=few_shot,
                        labelled=labelled, instruction=instruction)
        assert RULES[-1].when(regime)


def test_one_row_per_label_validates_the_thin_candidates(labelled):
    """One row per label: the rule's `thin` candidates, validated (they cover the same
    labels), the kept one run again on every row."""
    labelled.target = None
    budget = resolve_budget("1 per label", len(labelled), labelled.labels)
    selector = make_selector("auto")
    table = selector.select(labelled, budget, seed=2)
    direct = make_selector(selector.choice_).select(labelled, budget, seed=2)
    assert selector.choice_ in THIN and set(selector.validation_.correct) == set(THIN)
    assert f"validated between {' and '.join(THIN)}" in table["reason"][0]
    assert table["id"].to_list() == direct["id"].to_list()


def test_thin_picks_are_scored_only_where_they_cover_the_same_labels(digits_view):
    """Two candidates with a row of each of the same labels are scored on the held-out
    rows; with different labels (one of them thin) validation is skipped."""
    from curate.selectors.base import one_shard
    from curate.selectors.validate import validate

    first = {label: digits_view.ids[digits_view.labels == label] for label in
             np.unique(digits_view.labels)}
    same = validate(one_shard(digits_view), {"a": np.array([r[0] for r in first.values()]),
                                             "b": np.array([r[1] for r in first.values()])},
                    0, 500)
    assert same.skipped is None and same.held_out > 450
    two_labels = np.concatenate([first["digit-0"][:5], first["digit-1"][:5]])
    other = validate(one_shard(digits_view), {"a": np.array([r[0] for r in first.values()]),
                                              "b": two_labels}, 0, 500)
    assert other.skipped.startswith("fewer than 2 rows per label") and not other.held_out


def test_labels_left_without_a_row_leave_out_the_label_fitting_candidates(labelled):
    labelled.target = None
    budget = resolve_budget(4, len(labelled), labelled.labels, stratify="auto")
    assert budget.empty_labels
    selector = make_selector("auto")
    selector.select(labelled, budget, seed=0)
    assert selector.choice_ == "kmeans-nearest"
    assert "bilevel" not in selector.reason_ and "prototypes" not in selector.reason_


def test_large_budgets_validate_candidates_selected_apart_from_the_held_out_draw(digits_view):
    """At 30% of 1,797 real digits: each candidate selects the same share of each label
    from the pool without the validation draw (its uncertainty probe fitted on those rows
    alone), every drawn row is scored, and the kept candidate then selects from the whole
    pool. Scored on the rows no candidate picked, as at few-shot budgets, the draw would be
    what the candidates passed over."""
    from curate.budget import Budget
    from curate.selectors import SelectionView

    budget = resolve_budget("30%", len(digits_view), digits_view.labels, stratify="auto")
    labels = digits_view.labels
    for seed in range(3):
        selector = make_selector("auto", {"validation_rows": 600})
        table = selector.select(digits_view, budget, seed)
        keys = digits_view.with_seed(seed).keys("auto-validation")
        draw = np.zeros(len(keys), dtype=bool)
        draw[np.argsort(keys)[:600]] = True
        rest = SelectionView(ids=digits_view.ids[~draw], embeddings=digits_view.embeddings[~draw],
                             labels=labels[~draw], cluster_fn=digits_view.cluster_fn)
        share = {label: round(n * (labels[~draw] == label).sum() / (labels == label).sum())
                 for label, n in budget.per_label.items()}
        rest_budget = Budget(sum(share.values()), share, stratified=True)
        picks = {name: make_selector(name).select(rest, rest_budget, seed)["id"].to_numpy()
                 for name in LARGE}
        assert not np.isin(digits_view.ids[draw], np.concatenate(list(picks.values()))).any()
        hits = {name: probe_hits(digits_view, ids, np.flatnonzero(draw), seed)
                for name, ids in picks.items()}
        assert selector.validation_.held_out == 600
        for name, hit in hits.items():
            assert (selector.validation_.correct[name] == hit).all()
        best = validated_choice(hits, LARGE)
        assert selector.choice_ == best
        assert table["id"].to_list() == make_selector(best).select(
            digits_view, budget, seed)["id"].to_list()


def test_share_of_a_budget_keeps_each_labels_share():
    from curate.budget import Budget
    from curate.selectors.validate import share_of

    labels = np.array(["a"] * 50 + ["b"] * 30 + ["c"] * 4)
    keep = np.ones(len(labels), dtype=bool)
    keep[::2] = False  # half of every label
    budget = Budget(total=42, per_label={"a": 25, "b": 15, "c": 2}, stratified=True)
    half = share_of(budget, labels, keep)
    assert half.per_label == {"a": 12, "b": 8, "c": 1} and half.total == 21 and half.stratified
    keep[50:] = False  # only label a left: b and c get no row
    only_a = share_of(budget, labels, keep)
    assert only_a.per_label == {"a": 12} and only_a.empty_labels == ("b", "c")
    assert share_of(Budget(total=42), labels, keep).total == 12  # 42 * 25 / 84 = 12.5, to even


def test_a_candidate_past_max_work_is_left_out_and_the_reason_says_so(digits_view):
    """bilevel's greedy grows with budget x pool: under a small `max_work` auto leaves it
    out of its large-budget candidates (never the rule's first) and says so."""
    from curate.selectors.registry import make_selector as make

    budget = resolve_budget("30%", len(digits_view), digits_view.labels, stratify="auto")
    work = make("bilevel").work(len(digits_view), budget.total, 64, 10)
    assert work == budget.total * (2 * len(digits_view) * (64 + 30) + 2 * 64 * 64)
    selector = make_selector("auto", {"max_work": work - 1})
    selector.select(digits_view, budget, 0)
    assert "bilevel" not in selector.validation_.correct
    assert f"bilevel skipped (about {work:.1e} multiply-adds, over max_work)" in selector.reason_
    selector = make_selector("auto", {"max_work": work})
    selector.select(digits_view, budget, 0)
    assert list(selector.validation_.correct) == list(LARGE)
