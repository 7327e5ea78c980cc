"""Dedup (stage 2b): drop exact and near duplicates before any selector sees the pool.

Exact duplicates share their normalised content: text (and prompt/response) columns are
NFKC-normalised, case-folded and whitespace-collapsed; images and feature vectors compare
byte for byte. The label is not part of the content: one text under two labels is one row
(such groups are counted as `label_conflicts`). Near duplicates (with `dedup.near`) are
pairs whose embeddings have cosine similarity above that threshold, found with a faiss
range search in chunks of queries.

Which row of a group stays is one rule, `dedup.keep`: `first` keeps the smallest id (the
pool is in id order, and content-hash ids give repeats the suffixes -1, -2...); the name of
a numeric column keeps the row with the highest value there (ties: smallest id). Near
duplicates are removed greedily in that order: a row is dropped when a row kept before it
is within the threshold, so no two kept rows are near duplicates, and a chain a~b~c with
a and c apart keeps a and c.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import polars as pl

from curate.data.pool import Pool, _iter_row_strings, dropped_rows
from curate.errors import CurateError


@dataclass(frozen=True)
class Duplicates:
    """The outcome of dedup on one pool: which rows stay, and for each dropped row the row
    that stays in its place (positions in the pool) and why."""

    keep: np.ndarray  # bool (N,)
    kept_by: np.ndarray  # int64 (N,), -1 for kept rows
    reason: np.ndarray  # "" | "exact" | "near", (N,)
    cosine: np.ndarray  # float32 (N,), similarity to kept_by (1 for exact), nan for kept rows
    label_conflicts: int = 0

    def counts(self) -> dict[str, int]:
        return {"exact": int((self.reason == "exact").sum()),
                "near": int((self.reason == "near").sum()),
                "label_conflicts": self.label_conflicts}

    def table(self, pool: Pool) -> pl.DataFrame:
        """Every dropped row as the run's dropped.parquet lists it (`dropped_rows`)."""
        rows = np.flatnonzero(~self.keep)
        return dropped_rows(pool.frame[rows], pool.schema,
                            [REASONS[r] for r in self.reason[rows]],
                            duplicate_of=pool.ids[self.kept_by[rows]], cosine=self.cosine[rows])


# What dropped.parquet says of each kind of duplicate.
REASONS = {"exact": "duplicate", "near": "near-duplicate"}


def keep_order(pool: Pool, keep: str) -> np.ndarray:
    """Rank of every row under the keep rule (0 stays first)."""
    n = len(pool)
    if keep == "first":
        return np.arange(n)
    frame = pool.frame
    if keep not in frame.columns or not frame.schema[keep].is_numeric():
        numeric = [c for c, t in frame.schema.items() if t.is_numeric()]
        raise CurateError(f"dedup.keep '{keep}' is not a numeric column of {pool.origin}",
                          "set dedup.keep to 'first' (smallest id) or one of: "
                          + (", ".join(numeric) or "(the pool has no numeric column)"))
    score = frame[keep].cast(pl.Float64).fill_null(float("nan")).to_numpy()
    score = np.where(np.isnan(score), -np.inf, score)
    order = np.lexsort((np.arange(n), -score))  # highest first, then smallest id
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    return rank


def _content_keys(pool: Pool) -> pl.DataFrame:
    """One column per content column, normalised so equal content compares equal."""
    s = pool.schema
    columns = [c for c in (s.text, s.prompt, s.response, s.image, s.vectors) if c]
    keys = {}
    for name in columns:
        series = pool.frame[name]
        if series.dtype in (pl.Utf8, pl.String, pl.Categorical):
            keys[name] = (series.cast(pl.Utf8).fill_null("").str.normalize("NFKC")
                          .str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars())
        else:
            # a digest of each row's bytes, not the bytes as text: a vector row's hex is
            # several times the array's size, and equal rows still share a key
            keys[name] = pl.Series(name, [hashlib.blake2b(row.encode(), digest_size=16).digest()
                                          for row in _iter_row_strings(series)])
    return pl.DataFrame(keys)


def exact_duplicates(pool: Pool, rank: np.ndarray) -> tuple[np.ndarray, int]:
    """For each row, the position of the row its group keeps (itself when it is kept), and
    how many groups hold more than one label."""
    keys = _content_keys(pool).with_columns(pl.Series("_rank", rank),
                                            pl.Series("_row", np.arange(len(pool))))
    content = [c for c in keys.columns if not c.startswith("_")]
    winner = (keys.sort("_rank").group_by(content, maintain_order=True)
              .agg(pl.col("_row").first().alias("_kept")))
    kept = keys.join(winner, on=content, how="left").sort("_row")["_kept"].to_numpy()
    conflicts = 0
    if pool.schema.label:
        labelled = keys.with_columns(pool.frame[pool.schema.label].cast(pl.Utf8).alias("_label"))
        conflicts = int((labelled.group_by(content).agg(pl.col("_label").n_unique())
                         ["_label"] > 1).sum())
    return kept.astype(np.int64), conflicts


def near_pairs(x: np.ndarray, threshold: float, chunk: int = 4096
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair (i, j), i != j, with x_i . x_j > threshold: (lims, neighbours, cosines) in
    CSR form over the rows of `x` (unit rows, float32). Queries go in chunks of `chunk` rows,
    so memory is bounded by the chunk's neighbours, never N x N."""
    import faiss

    x = np.ascontiguousarray(x, dtype=np.float32)
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    counts, neighbours, cosines = [], [], []
    for start in range(0, len(x), chunk):
        lims, sims, found = index.range_search(x[start:start + chunk], float(threshold))
        lims = lims.astype(np.int64)
        owner = np.repeat(np.arange(start, start + len(lims) - 1), np.diff(lims))
        other = found != owner
        counts.append(np.bincount(owner[other] - start, minlength=len(lims) - 1))
        neighbours.append(found[other])
        cosines.append(sims[other])
    lims = np.concatenate([[0], np.cumsum(np.concatenate(counts))]).astype(np.int64) \
        if counts else np.zeros(1, dtype=np.int64)
    return (lims, np.concatenate(neighbours).astype(np.int64) if neighbours else
            np.empty(0, np.int64), np.concatenate(cosines) if cosines else np.empty(0, np.float32))


def near_duplicates(x: np.ndarray, threshold: float, rank: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy near-duplicate removal in keep order: (keep, kept_by, cosine) per row."""
    n = len(x)
    lims, neighbours, cosines = near_pairs(x, threshold)
    keep = np.ones(n, dtype=bool)
    kept_by = np.full(n, -1, dtype=np.int64)
    cosine = np.full(n, np.nan, dtype=np.float32)
    has = np.flatnonzero(np.diff(lims) > 0)
    # Rows without neighbours always stay; the others are visited best first, and
    # `keep` of a later row is still True but never read before its own visit, since a
    # neighbour visited earlier only compares against rows ranked before it.
    visited = np.zeros(n, dtype=bool)
    for row in has[np.argsort(rank[has], kind="stable")]:
        mine = neighbours[lims[row]:lims[row + 1]]
        sims = cosines[lims[row]:lims[row + 1]]
        blocking = visited[mine] & keep[mine]
        if blocking.any():
            best = int(np.argmax(np.where(blocking, sims, -np.inf)))
            keep[row], kept_by[row], cosine[row] = False, mine[best], sims[best]
        visited[row] = True
    return keep, kept_by, cosine


def find_duplicates(pool: Pool, exact: bool, near: float | None, keep: str,
                    embed=None) -> Duplicates:
    """Dedup `pool`; `embed(pool)` returns a sub-pool's unit embeddings (for `near`)."""
    n = len(pool)
    rank = keep_order(pool, keep)
    keep_mask = np.ones(n, dtype=bool)
    kept_by = np.full(n, -1, dtype=np.int64)
    reason = np.full(n, "", dtype=object)
    cosine = np.full(n, np.nan, dtype=np.float32)
    conflicts = 0
    if exact:
        winner, conflicts = exact_duplicates(pool, rank)
        dropped = winner != np.arange(n)
        keep_mask[dropped], kept_by[dropped], reason[dropped] = False, winner[dropped], "exact"
        cosine[dropped] = 1.0
    if near is not None:
        rows = np.flatnonzero(keep_mask)
        rest = Pool(frame=pool.frame[rows], schema=pool.schema, origin=pool.origin)
        near_keep, near_by, near_cos = near_duplicates(embed(rest), near, rank[rows])
        gone = rows[~near_keep]
        keep_mask[gone], kept_by[gone], reason[gone] = False, rows[near_by[~near_keep]], "near"
        cosine[gone] = near_cos[~near_keep]
    return Duplicates(keep_mask, kept_by, reason.astype(str), cosine, conflicts)
