"""The report's interactive map: a PCA of a sample of the pool and the selection, drawn in
the page by its own script (`templates/map.js`, inlined: no network, no library), with each
row's text and, for selected rows, the selector's reason on hover.

Colour says the label; past a dozen labels colours alone stop telling labels apart, so the
page also lets a reader pick one label and fades the others."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from curate.report.artifacts import RunArtifacts

POOL_POINTS = 2000
SELECTED_POINTS = 2000
TEXT_CHARS = 160


def _texts(frame: pl.DataFrame, schema: dict) -> list[str]:
    if schema.get("prompt") and schema.get("response"):
        texts = [f"{p} → {r}" for p, r in zip(frame[schema["prompt"]].to_list(),
                                              frame[schema["response"]].to_list(), strict=True)]
    elif schema.get("text"):
        texts = [str(t) for t in frame[schema["text"]].to_list()]
    else:
        texts = frame["id"].cast(pl.Utf8).to_list()
    return [t if len(t) <= TEXT_CHARS else t[:TEXT_CHARS - 1] + "…" for t in texts]


def map_data(art: RunArtifacts, target: np.ndarray | None, seed: int) -> dict | None:
    """Points for the page's script: `pool` and `selected` rows as [x, y, label index,
    text, reason], `target` as [x, y], `labels` the label names (None without labels)."""
    from curate.report.projection import projection_points

    if art.embeddings is None or art.pool is None:
        return None
    rng = np.random.default_rng(seed)
    chosen = np.flatnonzero(art.chosen)
    shown = chosen if len(chosen) <= SELECTED_POINTS else np.sort(
        rng.choice(chosen, SELECTED_POINTS, replace=False))
    points = projection_points(art.embeddings, target, shown, max_pool_points=POOL_POINTS,
                               seed=seed)
    pool_rows = points["shown"][~art.chosen[points["shown"]]]
    pool_xy = points["pool"][~art.chosen[points["shown"]]]
    label = art.schema.get("label")
    names = art.pool[label].cast(pl.Utf8).fill_null("") if label else None
    labels = sorted(set(names.to_list())) if names is not None else None
    index = {name: i for i, name in enumerate(labels or [])}
    reasons = dict(art.selection.select("id", "reason").iter_rows())

    def rows(where: np.ndarray, xy: np.ndarray, with_reason: bool) -> list[list]:
        frame = art.pool[where]
        texts = _texts(frame, art.schema)
        ids = frame["id"].to_list()
        return [[round(float(x), 4), round(float(y), 4),
                 index[names[int(i)]] if names is not None else -1, text,
                 (reasons.get(row_id) or "") if with_reason else ""]
                for (x, y), i, text, row_id in zip(xy, where, texts, ids, strict=True)]

    return {"pool": rows(pool_rows, pool_xy, False),
            "selected": rows(shown, points["selection"], True),
            "target": [[round(float(x), 4), round(float(y), 4)] for x, y in points["target"]],
            "labels": labels, "pool_rows": art.pool.height, "selected_rows": len(chosen)}
