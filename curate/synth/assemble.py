"""Assemble (stage 7): the selected real rows plus the accepted synthetic rows -> the subset.

Synthetic rows join only here, and only if they pass, in order: dedup (a synthetic row whose
content equals a real row or an earlier synthetic row is dropped), the synthetic budget
(`synth.budget`: a count split evenly over labels, a fraction of the generated rows, or N per
label), and label balance (every label keeps as many synthetic rows as the label with the
fewest, so augmentation never shifts the label prior). Every drop is counted in the stats.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from curate.budget import resolve_budget
from curate.data.pool import PARENT_ID, SOURCE, Schema


def even_split(total: int, available: dict[str, int]) -> dict[str, int]:
    """`total` rows spread as evenly as the labels' `available` rows allow (water-filling:
    labels with the fewest rows are served first; a remainder goes to those with the most)."""
    caps, left = {}, min(total, sum(available.values()))
    order = sorted(available, key=lambda k: (available[k], k))
    for i, label in enumerate(order):
        caps[label] = min(available[label], left // (len(order) - i))
        left -= caps[label]
    return caps


def synthetic_caps(spec: str | int | float | None, available: dict[str, int]) -> dict[str, int]:
    """The most synthetic rows each label may keep under the budget `spec` (None: all)."""
    if spec is None or sum(available.values()) == 0:
        return dict(available)
    labels = np.repeat(list(available), list(available.values()))
    budget = resolve_budget(spec, len(labels), labels, allow_smaller=True)
    if budget.per_label is not None:
        return {k: budget.per_label.get(k, 0) for k in available}
    return even_split(budget.total, available)


def assemble(real: pl.DataFrame, synthetic: pl.DataFrame | None, schema: Schema,
             budget: str | int | float | None = None, balance: bool = True
             ) -> tuple[pl.DataFrame, dict]:
    """(subset, stats). `real` holds the selected pool rows (with their `curate_selector`
    column in a run); `synthetic` a generator's rows (`id, source, parent_id, reason` +
    content columns). Every row of the subset gets `curate_source` (`pool` or the
    generator) and `curate_parent_id`: names of curate's own, so a pool's own `source` or
    `parent_id` column is kept as it is."""
    real = real.with_columns(pl.lit("pool").alias(SOURCE),
                             pl.lit(None, dtype=pl.Utf8).alias(PARENT_ID))
    if synthetic is None or synthetic.height == 0:
        return real, {"synthetic": 0}
    content = schema.content_columns()
    seen = set(real.select(content).hash_rows(seed=0).to_list())
    keys = synthetic.select(content).hash_rows(seed=0).to_list()
    fresh = [not (k in seen or seen.add(k)) for k in keys]
    unique = synthetic.filter(pl.Series(fresh))
    label = schema.label
    names, counts = np.unique(unique[label].cast(pl.Utf8).to_numpy().astype(str),
                              return_counts=True)
    available = {str(k): int(v) for k, v in zip(names, counts, strict=True)}
    for name in set(real[label].cast(pl.Utf8).to_list()) - set(available):
        available[name] = 0  # a label without synthetic rows still counts for balance
    caps = synthetic_caps(budget, available)
    if balance:
        floor = min(caps.values())
        caps = dict.fromkeys(caps, floor)
    rank = pl.int_range(pl.len()).over(label)
    kept = unique.filter(rank < pl.col(label).replace_strict(caps, return_dtype=pl.Int64))
    per_label = {k: int(kept.filter(pl.col(label) == k).height) for k in sorted(caps)}
    _check(kept, caps, real, label)
    # Diagonal: a synthetic row's curate_selector (and any pool column it lacks) is null.
    subset = pl.concat([real, kept.drop("reason").rename({"source": SOURCE,
                                                          "parent_id": PARENT_ID})],
                       how="diagonal_relaxed")
    stats = {"generated": synthetic.height, "duplicates": synthetic.height - unique.height,
             "over_budget_or_unbalanced": unique.height - kept.height,
             "synthetic": kept.height, "synthetic_per_label": per_label}
    return subset, stats


def _check(kept: pl.DataFrame, caps: dict[str, int], real: pl.DataFrame, label: str) -> None:
    """The budget check: an assembled subset that breaks it is a bug, never a result."""
    ids = pl.concat([real["id"], kept["id"]])
    if ids.n_unique() != len(ids):
        raise RuntimeError("assembled subset has duplicate ids")
    for name, count in kept.group_by(label).len().iter_rows():
        if count > caps[name]:
            raise RuntimeError(f"assembled {count} synthetic rows of label '{name}' for a "
                               f"budget of {caps[name]}")
