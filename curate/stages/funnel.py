"""The funnel: how many rows each step of a run kept, from the rows read to the rows
selected, in one line (`5,000 read -> 3,471 labelled -> 3,470 after dedup -> 69 selected
(2% of 3,470)`: read, each step that left rows out, selected), with warnings when many
rows were dropped or a label gets no row; and the rows the steps left out, with why
(`dropped.parquet`).

A budget is a share of the rows left after dedup, so rows dropped silently shrink the
subset without a word: the line says what the budget was a share of.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from curate.budget import Budget, no_row_warning
from curate.config import Config
from curate.progress import log
from curate.stages.pool import PoolRef
from curate.stages.select import SelectionRef

# Past this share of the rows read, the rows dropped are a warning, not a line.
DROP_WARNING = 0.1


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}" + ("" if n == 1 or not what.endswith("duplicate") else "s")


def funnel(cfg: Config, loaded: PoolRef, pool: PoolRef, selection: SelectionRef
           ) -> tuple[dict, list[str]]:
    """(the run's funnel for its manifest, the warnings to log): the rows read, labelled
    (None without a label column, or with `data.keep_unlabelled`), left after dedup and
    selected; the budget as written; the line; and every warning. The budget rule's
    warning is in the funnel's, not among those to log: it was logged when the budget was
    resolved."""
    dropped, dedup = loaded.stats["rows_dropped"], pool.stats
    read = loaded.stats["rows_read"]
    with_text = read - dropped.get("empty_text", 0)
    labelled = with_text - dropped.get("null_label", 0) \
        if loaded.schema.get("label") and not cfg.data.keep_unlabelled else None
    budget = str(cfg.select.budget)
    steps = [(read, "read"), (with_text, "with text"), (labelled, "labelled"),
             (loaded.rows, "sampled"), (pool.rows, "after dedup")]
    shown, last = [], None
    for n, step in steps:  # read, then the steps that left rows out
        if n is not None and n != last:
            shown.append(f"{n:,} {step}")
            last = n
    line = " -> ".join([*shown, f"{selection.rows:,} selected ({budget} of {pool.rows:,})"])
    gone = {"without a label": dropped.get("null_label", 0),
            "with empty text": dropped.get("empty_text", 0),
            "duplicate": dedup.get("exact", 0), "near-duplicate": dedup.get("near", 0)}
    drop = _drop_warning(gone, read, pool.rows)
    budget_rule, coverage = _label_warnings(cfg, pool, selection)
    return ({"read": read, "labelled": labelled, "after_dedup": pool.rows,
             "selected": selection.rows, "budget": budget, "line": line,
             "warnings": [w for w in (drop, budget_rule, coverage) if w]},
            [w for w in (drop, coverage) if w])


def _drop_warning(gone: dict[str, int], read: int, left: int) -> str | None:
    total = sum(gone.values())
    if total <= DROP_WARNING * read:
        return None
    reasons = ", ".join(_count(n, what) for what, n in gone.items() if n)
    hint = "; data.keep_unlabelled: true keeps the unlabelled rows as candidates" \
        if gone["without a label"] else ""
    return (f"{total:,} of {read:,} rows read ({total / read:.0%}) were dropped: {reasons}; "
            f"the budget is a share of the {left:,} rows left, and dropped.parquet in the "
            f"run folder lists the dropped rows{hint}")


def _label_warnings(cfg: Config, pool: PoolRef, selection: SelectionRef
                    ) -> tuple[str | None, str | None]:
    """(the budget rule's warning when the budget gives labels no row, as `no_row_warning`
    words it; else, when the selection still leaves labels without a row, which ones)."""
    label = pool.schema.get("label")
    if not label:
        return None, None
    rows = pl.read_parquet(pool.path, columns=["id", label])
    labels = rows[label].cast(pl.Utf8).fill_null("").to_numpy().astype(str)
    if message := no_row_warning(cfg.select.budget, Budget(**selection.budget), labels):
        return message, None
    chosen = rows.filter(pl.col("id").is_in(selection.load()["id"].implode()))
    missing = np.setdiff1d(np.unique(labels),
                           chosen[label].cast(pl.Utf8).fill_null("").to_numpy().astype(str))
    if not len(missing):
        return None, None
    names = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
    return None, (f"the selection has no row of {len(missing)} of {len(np.unique(labels))} "
                  f"labels ({names}); a per-label budget (1 per label) gives every label "
                  "its rows")


def log_funnel(result: dict, to_log: list[str]) -> None:
    """The funnel's line and the warnings `funnel` left to log."""
    log.info(result["line"])
    for warning in to_log:
        log.warning(warning)


def write_dropped(refs: list[Path], path: Path) -> None:
    """dropped.parquet: the rows left out by the stages whose artifacts are `refs` (load,
    dedup), in stage order."""
    pl.concat([pl.read_parquet(Path(ref).with_name("dropped.parquet")) for ref in refs]
              ).write_parquet(path)
