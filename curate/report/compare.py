"""The questions a report answers beyond its pictures: would a random subset of the same size
have done as well (`versus_random`), and what did the subset leave out (`coverage`).

Better than random? A logistic probe (the bench's `probe` evaluator) is fitted on the
selected rows and on seeded random draws of the same size and the same label counts from
the rows not selected, and each is scored on pool rows in none of them. The probe needs
labels and the run's embeddings; a subset with fewer than two rows per label it covers is
not scored, for the reason `auto`'s validation gives (`curate.selectors.validate`): such a
probe tells which labels a subset covers rather than how good its rows are."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from curate.report.artifacts import RunArtifacts

DRAWS = 3  # random subsets: their spread shows how much one draw's luck weighs
HELD_OUT = 2000  # pool rows that score every probe
LISTED = 60  # empty labels or clusters named before "and N more"


def _pool_labels(art: RunArtifacts) -> np.ndarray | None:
    label = art.schema.get("label")
    if not label or art.pool is None or label not in art.pool.columns:
        return None
    return art.pool[label].cast(pl.Utf8).fill_null("").to_numpy().astype(str)


def _random_draws(labels: np.ndarray, chosen: np.ndarray, rng: np.random.Generator
                  ) -> list[np.ndarray]:
    """DRAWS random subsets of rows not selected, each with the selection's label counts
    (fewer where a label has too few rows left)."""
    rest = np.flatnonzero(~chosen)
    names, counts = np.unique(labels[chosen], return_counts=True)
    draws = []
    for _ in range(DRAWS):
        parts = []
        for name, count in zip(names, counts, strict=True):
            mine = rest[labels[rest] == name]
            parts.append(rng.choice(mine, min(count, len(mine)), replace=False))
        draws.append(np.sort(np.concatenate(parts)))
    return draws


def versus_random(art: RunArtifacts, seed: int) -> dict:
    """The selection's probe against same-size stratified random draws, in points (x100):
    `{"why_not": ...}` when it cannot be computed."""
    labels = _pool_labels(art)
    if labels is None:
        return {"why_not": "the pool has no labels, so no probe can score a subset"}
    if art.embeddings is None:
        return {"why_not": "the run's embeddings are not in the cache"}
    chosen = art.chosen
    covered = len(np.unique(labels[chosen]))
    if covered < 2:
        return {"why_not": "the subset holds fewer than two labels"}
    if 2 * covered > int(chosen.sum()):
        return {"why_not": f"the subset has {int(chosen.sum()):,} rows over {covered} labels, "
                           "fewer than two a label: a probe fitted on it would say which "
                           "labels it covers more than how good its rows are"}
    rng = np.random.default_rng([seed, 26])
    draws = _random_draws(labels, chosen, rng)
    used = chosen.copy()
    for draw in draws:
        used[draw] = True
    spare = np.flatnonzero(~used)
    if len(spare) < 20:
        return {"why_not": "fewer than 20 pool rows are left to score the probes on"}
    held = np.sort(rng.choice(spare, min(HELD_OUT, len(spare)), replace=False))
    return _scores(art, labels, np.flatnonzero(chosen), draws, held, seed)


def _scores(art: RunArtifacts, labels: np.ndarray, selected: np.ndarray,
            draws: list[np.ndarray], held: np.ndarray, seed: int) -> dict:
    from curate.models.probe import ProbeEvaluator

    rows = np.unique(np.concatenate([selected, held, *draws]))
    where = np.searchsorted(rows, np.arange(len(labels)))  # pool row -> row of `rows`
    probe = ProbeEvaluator(art.embeddings.load_rows(rows), labels[rows], where[held])
    mine = probe.score(where[selected], seed)  # one BLAS thread a fit: ProbeEvaluator
    theirs = [probe.score(where[draw], seed) for draw in draws]

    def points(metric: str) -> dict:
        random = np.array([t[metric] for t in theirs]) * 100
        return {"selected": mine[metric] * 100, "random": float(random.mean()),
                "low": float(random.min()), "high": float(random.max()),
                "lead": mine[metric] * 100 - float(random.mean())}

    return {"accuracy": points("accuracy"), "macro_f1": points("macro_f1"),
            "rows": len(selected), "draws": len(draws), "held_out": len(held),
            "majority": float(np.mean(labels[held] == _majority(labels[selected]))) * 100}


def _majority(labels: np.ndarray) -> str:
    names, counts = np.unique(labels, return_counts=True)
    return str(names[np.argmax(counts)])


def coverage(art: RunArtifacts, clusters: np.ndarray | None) -> dict:
    """Labels and whole-pool clusters with no selected row, largest first (`clusters`: each
    pool row's cluster, or None)."""
    out: dict = {"labels": None, "clusters": None}
    if art.pool is None:
        return out
    chosen = art.chosen
    labels = _pool_labels(art)
    if labels is not None:
        names, sizes = np.unique(labels, return_counts=True)
        empty = ~np.isin(names, labels[chosen])
        out["labels"] = _listing(names[empty].tolist(), sizes[empty], len(names))
    if clusters is not None:
        sizes = np.bincount(clusters)
        picked = np.bincount(clusters[chosen], minlength=len(sizes))
        empty = np.flatnonzero((picked == 0) & (sizes > 0))
        out["clusters"] = _listing([str(c) for c in empty], sizes[empty],
                                   int((sizes > 0).sum()))
    return out


def _listing(names: list[str], sizes: np.ndarray, of: int) -> dict:
    order = np.argsort(-sizes, kind="stable")
    return {"of": of, "empty": len(names), "rows": int(sizes.sum()),
            "listed": [(names[i] or "(empty)", int(sizes[i])) for i in order[:LISTED]],
            "more": max(0, len(names) - LISTED)}
