"""Budgets: a count (`1000`), a fraction (`0.02`, `2%`) or a count per label (`10 per label`).

With labels, a count or fraction can be stratified: split across labels in proportion to
their frequency, so each label's rows are chosen by the selector inside that label.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from curate.errors import CurateError
from curate.progress import log

PER_LABEL = re.compile(r"^\s*(\d+)\s*[- ]?per[- ]label\s*$", re.IGNORECASE)
HELP = "write a count (1000), a fraction (0.02 or 2%) or a per-label count (10 per label)"


@dataclass(frozen=True)
class Budget:
    """A resolved budget: `total` rows, or `per_label` rows from each label.

    `stratified` marks a per-label split made from a count or fraction (proportional to
    label frequency) rather than asked for as "N per label"; selectors whose budget follows
    another distribution (a target set) may take `total` from the whole pool instead.
    `empty_labels`: the pool's labels a stratified split gives no row (fewer rows than
    labels), absent from `per_label`.
    """

    total: int
    per_label: dict[str, int] | None = None
    stratified: bool = False
    empty_labels: tuple[str, ...] = ()


def _parse(spec: str | int | float) -> tuple[str, float]:
    if isinstance(spec, bool):
        raise CurateError(f"budget {spec!r} is not a number", HELP)
    if isinstance(spec, int):
        return "count", float(spec)
    if isinstance(spec, float):
        return ("fraction", spec) if spec < 1 else ("count", spec)
    text = str(spec).strip()
    if match := PER_LABEL.match(text):
        return "per_label", float(match.group(1))
    try:
        if text.endswith("%"):
            return "fraction", float(text[:-1]) / 100
        value = float(text)
    except ValueError:
        raise CurateError(f"cannot read budget '{spec}'", HELP) from None
    if not math.isfinite(value):
        raise CurateError(f"budget '{spec}' is not a finite number", HELP)
    return ("fraction", value) if value < 1 and "." in text else ("count", value)


def resolve_budget(spec: str | int | float, n_rows: int, labels: np.ndarray | None = None,
                   allow_smaller: bool = False, stratify: bool | str = False,
                   warn: bool = True) -> Budget:
    """Turn a budget spec into row counts for a pool of `n_rows` rows: the one rule of
    `curate select` and `curate bench`.

    A budget larger than the pool is an error unless `allow_smaller`, which caps it.
    `stratify` ("auto": when there are labels) splits a count or fraction across labels.
    With fewer rows than labels, some labels get no row: `warn` logs one warning saying
    how many (`no_row_warning`).
    """
    budget = _resolve(spec, n_rows, labels, allow_smaller, stratify)
    if warn and (message := no_row_warning(spec, budget, labels)):
        log.warning(message)
    return budget


def no_row_warning(spec, budget: Budget, labels: np.ndarray | None) -> str | None:
    """What to tell the user when labels of the pool get no row (None: every label can)."""
    if labels is None:
        return None
    n_labels = len(np.unique(labels))
    if budget.empty_labels:
        empty = len(budget.empty_labels)
        shown = ", ".join(budget.empty_labels[:3]) + (", ..." if empty > 3 else "")
        lost = f"{_labels(empty)} no row ({shown})"
    elif budget.per_label is None and budget.total < n_labels:
        lost = f"at least {_labels(n_labels - budget.total)} no row"
    else:
        return None
    return (f"budget '{spec}' is {budget.total} rows for {n_labels} labels: {lost}; "
            f"{n_labels} rows or more give every label one (or a per-label budget: "
            "1 per label)")


def _labels(n: int) -> str:
    return "1 label gets" if n == 1 else f"{n} labels get"


def _resolve(spec, n_rows: int, labels: np.ndarray | None, allow_smaller: bool,
             stratify: bool | str) -> Budget:
    kind, value = _parse(spec)
    if value <= 0:
        raise CurateError(f"budget '{spec}' must be positive", HELP)
    if kind == "per_label":
        return _per_label(int(value), labels, allow_smaller, spec)
    if kind == "count" and value != int(value):
        raise CurateError(f"budget '{spec}' is not a whole number of rows", HELP)
    if kind == "fraction" and value > 1:
        raise CurateError(f"budget '{spec}' is more than the whole pool", HELP)
    count = round(value * n_rows) if kind == "fraction" else int(value)
    if count == 0:
        raise CurateError(f"budget '{spec}' of a {n_rows}-row pool is 0 rows",
                          "raise the budget")
    if count > n_rows:
        if not allow_smaller:
            raise CurateError(f"budget {count} is larger than the pool ({n_rows} rows)",
                              "lower the budget or pass --allow-smaller to take the whole pool")
        count = n_rows
    if stratify == "auto":
        stratify = labels is not None
    if not stratify:
        return Budget(total=count)
    if labels is None:
        raise CurateError("select.stratify is true but the pool has no label column",
                          "set data.label_column or select.stratify: auto")
    names, counts = np.unique(labels, return_counts=True)
    shares = proportional_split(counts, count)
    return Budget(total=count, stratified=True,
                  per_label={str(a): int(n) for a, n in zip(names, shares, strict=True) if n},
                  empty_labels=tuple(str(a) for a, n in zip(names, shares, strict=True)
                                     if not n))


def proportional_split(sizes: np.ndarray, n: int) -> np.ndarray:
    """n split across groups in proportion to `sizes` (largest remainder, ties to the larger
    group, then the earlier one); when n allows, every group gets at least one, taken from
    the groups with the largest shares. Never more than a group's size."""
    sizes = np.asarray(sizes, dtype=np.int64)
    exact = n * sizes / sizes.sum()
    shares = np.floor(exact).astype(np.int64)
    order = np.lexsort((np.arange(len(sizes)), -sizes, -(exact - shares)))
    shares[order[:n - shares.sum()]] += 1
    if n >= len(sizes):
        for empty in np.flatnonzero(shares == 0):
            shares[np.argmax(shares)] -= 1
            shares[empty] = 1
    return shares


def _per_label(n: int, labels: np.ndarray | None, allow_smaller: bool, spec) -> Budget:
    if labels is None:
        raise CurateError(f"budget '{spec}' needs labels but the pool has no label column",
                          "set data.label_column or use a count or fraction budget")
    names, counts = np.unique(labels, return_counts=True)
    short = [(str(a), int(c)) for a, c in zip(names, counts, strict=True) if c < n]
    if short and not allow_smaller:
        label, have = short[0]
        raise CurateError(f"label '{label}' has {have} rows, fewer than {n} per label "
                          f"({len(short)} labels are short)",
                          "lower the budget or pass --allow-smaller to take all their rows")
    per_label = {str(a): min(n, int(c)) for a, c in zip(names, counts, strict=True)}
    return Budget(total=sum(per_label.values()), per_label=per_label)
