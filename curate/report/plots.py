"""The figures of `report.html`: each takes the run's artifacts (`RunArtifacts`, from
`curate.report.html`) and returns a data: URI of a PNG, or None when the run has nothing to
show (no labels, no image column...)."""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from curate.report.page import png_uri, pyplot

if TYPE_CHECKING:
    from curate.report.artifacts import RunArtifacts

MAX_LABELS = 25  # label bars shown; the rest are summed into "other"
MAX_SCORES = 6
THUMBNAILS = 64


def label_plot(art: RunArtifacts, subset: pl.DataFrame) -> str | None:
    """Share of each label in the pool vs in the subset."""
    label = art.schema.get("label")
    if not label or art.pool is None or label not in subset.columns:
        return None
    plt = pyplot()
    pool_counts = art.pool[label].cast(pl.Utf8).value_counts().sort("count", descending=True)
    names = pool_counts[label].to_list()
    shown = names[:MAX_LABELS]
    sub = dict(subset[label].cast(pl.Utf8).value_counts().iter_rows())
    pool = dict(pool_counts.iter_rows())

    def shares(counts: dict) -> list[float]:
        total = sum(counts.values()) or 1
        values = [counts.get(n, 0) / total for n in shown]
        if len(names) > len(shown):
            values.append(sum(counts.get(n, 0) for n in names[len(shown):]) / total)
        return values

    ticks = shown + (["other"] if len(names) > len(shown) else [])
    y = np.arange(len(ticks))
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(ticks) + 1.2))
    ax.barh(y - 0.2, shares(pool), height=0.4, color="lightgrey", label="pool")
    ax.barh(y + 0.2, shares(sub), height=0.4, color="tab:red", label="subset")
    ax.set_yticks(y, ticks, fontsize="small")
    ax.invert_yaxis()
    ax.set(xlabel="share of rows")
    ax.legend(fontsize="small")
    return png_uri(fig)


def cluster_plot(art: RunArtifacts) -> tuple[str | None, str]:
    """Pool rows and selected rows per cluster; a caption says which clustering."""
    plt = pyplot()
    if art.assignment is not None:
        k = int(art.assignment.max()) + 1
        sizes = np.bincount(art.assignment, minlength=k)
        picked = np.bincount(art.assignment[art.chosen], minlength=k)
        order = np.argsort(-sizes, kind="stable")
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 4.5), sharex=True)
        top.bar(np.arange(k), sizes[order], color="grey", width=1.0)
        top.set(ylabel="pool rows")
        bottom.bar(np.arange(k), picked[order], color="tab:red", width=1.0)
        bottom.set(ylabel="selected rows", xlabel="cluster (largest first)")
        covered = int((picked > 0).sum())
        return png_uri(fig), (f"{art.clustering}: {covered} of them ({covered / k:.0%}) "
                              "have a selected row.")
    if "cluster" not in art.selection.columns or art.selection["cluster"].null_count() == \
            art.selection.height:
        return None, "The selector does not work by clusters."
    label = art.schema.get("label")
    keys = ["cluster"]
    frame = art.selection.filter(pl.col("cluster").is_not_null())
    if label and art.pool is not None:
        frame = frame.join(art.pool.select("id", pl.col(label).cast(pl.Utf8).alias("_label")),
                           on="id", how="left")
        keys = ["_label", "cluster"]
    counts = frame.group_by(keys).len()["len"].to_numpy()
    where = "inside each label" if len(keys) == 2 else "by the selector"
    caption = (f"Clusters fitted {where}: {len(counts)} clusters have a selected row; their "
               "pool sizes live in the select stage's cache.")
    if counts.min() == counts.max():  # one bar says nothing a sentence does not
        return None, f"{caption} Each has {counts[0]} selected row(s)."
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.hist(counts, bins=np.arange(1, counts.max() + 2) - 0.5, color="tab:red")
    ax.set(xlabel="selected rows in the cluster", ylabel="clusters")
    return png_uri(fig), caption


def score_plot(art: RunArtifacts) -> str | None:
    """Histograms of each score and of text length over the pool, with the selected rows'
    values on top (both as densities, so the shapes compare whatever the budget)."""
    columns: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    if art.pool is not None:
        label = art.schema.get("label")
        chosen = art.chosen
        for name, dtype in art.pool.schema.items():
            if dtype.is_numeric() and name != label:
                values = art.pool[name].cast(pl.Float64).to_numpy()
                columns[name] = (values, values[chosen])
        for name in ("text", "prompt", "response"):
            if (column := art.schema.get(name)) and column in art.pool.columns:
                values = art.pool[column].cast(pl.Utf8).str.len_chars().cast(pl.Float64)
                values = values.fill_null(0).to_numpy()
                columns[f"{column}: length in characters"] = (values, values[chosen])
    if art.scores is not None:
        mask = art.scores["id"].is_in(art.selection["id"].implode()).to_numpy()
        for name in art.scores.columns:
            if name != "id" and art.scores[name].dtype.is_numeric():
                values = art.scores[name].cast(pl.Float64).to_numpy()
                columns[name] = (values, values[mask])
    if not columns and art.selection["score"].null_count() < art.selection.height:
        values = art.selection["score"].cast(pl.Float64).to_numpy()
        by = (art.manifest.get("choice") or {}).get("selector") or art.manifest.get("selector")
        columns[f"{by} score (selected rows only: it scores no other row)"] = (values, None)
    columns = {k: v for k, v in columns.items()  # a constant says nothing as a histogram
               if np.isfinite(v[0]).any() and np.ptp(v[0][np.isfinite(v[0])]) > 0}
    columns = dict(list(columns.items())[:MAX_SCORES])
    if not columns:
        return None
    plt = pyplot()
    cols = min(3, len(columns))
    rows = -(-len(columns) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.6 * rows), squeeze=False)
    for ax, (name, (pool, picked)) in zip(axes.flat, columns.items(), strict=False):
        pool = pool[np.isfinite(pool)]
        bins = np.histogram_bin_edges(pool, bins=30)
        if picked is None:  # only the selected rows have this score
            ax.hist(pool, bins=bins, color="tab:red", alpha=0.6, label="selected")
        else:
            ax.hist(pool, bins=bins, color="lightgrey", density=True, label="pool")
            ax.hist(picked[np.isfinite(picked)], bins=bins, color="tab:red", alpha=0.6,
                    density=True, label="selected")
        ax.set_title(name, fontsize="small")
        ax.tick_params(labelsize="x-small")
    for ax in axes.flat[len(columns):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize="x-small")
    fig.tight_layout()
    return png_uri(fig)


def thumbnail_plot(art: RunArtifacts) -> str | None:
    """A grid of the first selected images (image pools), titled by label."""
    image, shape = art.schema.get("image"), art.schema.get("image_shape")
    if not image or art.pool is None:
        return None
    from curate.data import Pool, Schema

    rows = art.selection.select("id").join(art.pool, on="id", how="left",
                                           maintain_order="left")
    if label := art.schema.get("label"):  # labels in turn, so every label shows
        rows = rows.with_row_index("_order").with_columns(
            pl.col("_order").rank("ordinal").over(label).alias("_turn")).sort(
            "_turn", label).drop("_order", "_turn")
    rows = rows.head(THUMBNAILS)
    if image in art.wide:  # the report holds no pool images: read the shown ones
        rows = rows.join(art.wide_columns(rows["id"], [image]), on="id", how="left",
                         maintain_order="left")
    pool = Pool(frame=rows, schema=Schema(**{**art.schema, "image_shape":
                                              tuple(shape) if shape else None}),
                origin="report", fingerprint="-")
    images = pool.images()
    if images.ndim == 2:  # no shape recorded: square when the length allows
        side = math.isqrt(images.shape[1])
        if side * side != images.shape[1]:
            return None
        images = images.reshape(len(images), side, side)
    labels = pool.labels()
    plt = pyplot()
    cols = 8
    n_rows = -(-len(images) // cols)
    fig, axes = plt.subplots(n_rows, cols, figsize=(cols * 1.0, n_rows * 1.15), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(np.asarray(images[i], dtype=np.float32), cmap="gray_r"
                      if images[i].ndim == 2 else None)
            if labels is not None:
                ax.set_title(labels[i], fontsize=7)
    return png_uri(fig)


def image_uri(path: Path) -> str | None:
    if not path.exists():
        return None
    mime = "image/svg+xml" if path.suffix == ".svg" else "image/png"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode()
