"""`report.html`: one self-contained page (inline PNGs, no network) about a run.

Built from the run's artifacts only: the run folder (manifest.json, config.yaml,
selection.parquet, scores.parquet, handoff.json, train/) and the cache entries the
manifest's stages point to (the pool, its embeddings, the whole-pool clustering). A
missing cache entry (a pruned cache, a run folder copied elsewhere) drops its section with
a note instead of failing, so `curate report` works on any run folder.
"""

from __future__ import annotations

import base64
import functools
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from curate.report.page import png_uri, pyplot, render, write_page
from curate.store import read_json

REPORT_HTML = "report.html"
TEMPLATE = "report.html.j2"
MAX_LABELS = 25  # label bars shown; the rest are summed into "other"
MAX_SCORES = 6
THUMBNAILS = 64
STAGE_ORDER = ("load", "dedup", "embed", "cluster", "select", "synthesize", "assemble")
log = logging.getLogger(__name__)


@dataclass
class RunArtifacts:
    """What a run left behind, loaded once; None where an artifact is absent."""

    folder: Path
    manifest: dict
    selection: pl.DataFrame
    config: dict = field(default_factory=dict)
    handoff: dict | None = None
    pool: pl.DataFrame | None = None
    schema: dict = field(default_factory=dict)
    embeddings: np.ndarray | None = None
    assignment: np.ndarray | None = None  # whole-pool k-means cluster of every pool row
    scores: pl.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    @functools.cached_property
    def chosen(self) -> np.ndarray:
        """Boolean mask over pool rows: selected."""
        return self.pool["id"].is_in(self.selection["id"].implode()).to_numpy()


def _artifact(manifest: dict, stage: str) -> Path | None:
    where = manifest.get("stages", {}).get(stage, {}).get("artifact")
    return Path(where) if where else None


def _embeddings(folder: Path) -> np.ndarray:
    """The pool's embeddings from an embed cache entry (shards located as embed_pool does)."""
    from curate.embed import ROWS_STAGE, EmbeddingsRef
    from curate.store import ArtifactCache, hash_json

    meta = read_json(folder / "manifest.json")
    cache = ArtifactCache(folder.parent.parent)
    shards = cache.root / ROWS_STAGE / hash_json({"encoder": meta["encoder"], "version": 1})[:32]
    return EmbeddingsRef(folder, shards, meta["key"], meta["rows"], meta["dim"], True).load()


def load_artifacts(run_dir: Path) -> RunArtifacts:
    import yaml

    run_dir = Path(run_dir)
    manifest = read_json(run_dir / "manifest.json")
    art = RunArtifacts(run_dir, manifest, pl.read_parquet(run_dir / "selection.parquet"))
    if (run_dir / "config.yaml").exists():
        art.config = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    if (run_dir / "handoff.json").exists():
        art.handoff = read_json(run_dir / "handoff.json")
    if (run_dir / "scores.parquet").exists():
        art.scores = pl.read_parquet(run_dir / "scores.parquet")
    # The pool the selector saw: after dedup when the run deduplicated.
    pool_path = _artifact(manifest, "dedup") or _artifact(manifest, "load")
    if pool_path is not None and pool_path.suffix != ".parquet":
        pool_path = _artifact(manifest, "load")
    if pool_path is None or not pool_path.exists():
        art.notes.append(f"pool not found in the cache ({pool_path}): map, label mix, "
                         "clusters and examples of unselected rows are left out")
        return art
    art.pool = pl.read_parquet(pool_path)
    load_path = _artifact(manifest, "load")
    meta = load_path.with_name("manifest.json") if load_path else None
    art.schema = read_json(meta)["schema"] if meta is not None and meta.exists() else {}
    embed = _artifact(manifest, "embed")
    try:
        vectors = _embeddings(embed) if embed else None
        if vectors is not None and len(vectors) == art.pool.height:
            art.embeddings = vectors
    except (OSError, KeyError, ValueError) as err:
        art.notes.append(f"embeddings not readable from the cache ({embed}): {err}")
    clusters = _artifact(manifest, "cluster")
    if clusters is not None and (clusters / "assignment.npy").exists():
        assignment = np.load(clusters / "assignment.npy")
        if len(assignment) == art.pool.height:
            art.assignment = assignment
    return art


# ---- plots: each returns a data: URI of a PNG ----------------------------------------

def _label_colours(labels: list[str]) -> dict[str, Any]:
    plt = pyplot()
    names = sorted(set(labels))
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


def map_plot(art: RunArtifacts, target: np.ndarray | None, seed: int) -> str | None:
    """PCA map: pool sample grey, selected rows coloured by label, target as crosses."""
    from curate.report.projection import projection_points

    if art.embeddings is None or art.pool is None:
        return None
    plt = pyplot()
    chosen = np.flatnonzero(art.chosen)
    points = projection_points(art.embeddings, target, chosen, seed=seed)
    fig, ax = plt.subplots(figsize=(7, 5.5))
    ax.scatter(*points["pool"].T, s=3, color="lightgrey",
               label=f"pool ({art.pool.height:,}; {len(points['pool']):,} shown)")
    label = art.schema.get("label")
    labels = art.pool[label].cast(pl.Utf8).to_numpy()[chosen] if label else None
    size = float(np.clip(6000 / max(len(chosen), 1), 3, 16))  # thousands of picks: smaller
    if labels is not None and len(set(labels)) <= 20:
        colours = _label_colours(list(labels))
        for name, colour in colours.items():
            xy = points["selection"][labels == name]
            ax.scatter(*xy.T, s=size, color=colour, label=f"{name} ({len(xy)})")
    else:
        ax.scatter(*points["selection"].T, s=size, color="tab:red", alpha=0.7,
                   linewidths=0, label=f"selected ({len(chosen):,})")
    if len(points["target"]):
        ax.scatter(*points["target"].T, s=16, color="black", marker="x",
                   label=f"target ({len(points['target']):,})")
    ax.set(xlabel="PC 1", ylabel="PC 2", xticks=[], yticks=[])
    ax.legend(fontsize="small", markerscale=1.5, loc="center left", bbox_to_anchor=(1, 0.5))
    return png_uri(fig)


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
        return png_uri(fig), (f"Whole-pool k-means, {k} clusters: {covered} of them "
                              f"({covered / k:.0%}) have a selected row.")
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
    """Histograms of each score over the pool, with the selected rows' values on top."""
    columns: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    if art.pool is not None:
        label = art.schema.get("label")
        chosen = art.chosen
        for name, dtype in art.pool.schema.items():
            if dtype.is_numeric() and name != label:
                values = art.pool[name].cast(pl.Float64).to_numpy()
                columns[name] = (values, values[chosen])
    if art.scores is not None:
        mask = art.scores["id"].is_in(art.selection["id"].implode()).to_numpy()
        for name in art.scores.columns:
            if name != "id" and art.scores[name].dtype.is_numeric():
                values = art.scores[name].cast(pl.Float64).to_numpy()
                columns[name] = (values, values[mask])
    if not columns and art.selection["score"].null_count() < art.selection.height:
        values = art.selection["score"].cast(pl.Float64).to_numpy()
        by = (art.manifest.get("choice") or {}).get("selector") or art.manifest.get("selector")
        columns[f"{by} score of the selected rows"] = (values, None)
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


# ---- tables --------------------------------------------------------------------------

def _content(row: dict, schema: dict, limit: int = 240) -> str:
    if schema.get("prompt") and schema.get("response"):
        text = f"{row.get(schema['prompt'])} → {row.get(schema['response'])}"
    elif schema.get("text"):
        text = str(row.get(schema["text"]))
    else:
        text = ""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def example_rows(art: RunArtifacts, per_cluster: int = 2, max_rows: int = 24,
                 seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Selected rows spread over clusters (with their reason), and unselected rows."""
    label = art.schema.get("label")
    sel = art.selection.with_row_index("_order")
    if art.pool is not None:
        sel = sel.join(art.pool, on="id", how="left", maintain_order="left", suffix="_pool")
    group = [label] if label and label in sel.columns else []
    if "cluster" in sel.columns:  # up to `per_cluster` rows of each cluster, labels in turn
        sel = sel.with_columns(pl.col("_order").rank("ordinal").over([*group, "cluster"])
                               .alias("_rank")).filter(pl.col("_rank") <= per_cluster)
    if group:
        sel = sel.with_columns(pl.col("_order").rank("ordinal").over(group).alias("_turn"))
        sel = sel.sort("_turn", "_order")
    sel = sel.head(max_rows).sort("_order")
    selected = [{"id": r["id"], "label": r.get(label) if label else None,
                 "cluster": r.get("cluster"), "score": r.get("score"),
                 "reason": r.get("reason"), "content": _content(r, art.schema)}
                for r in sel.iter_rows(named=True)]
    unselected: list[dict] = []
    if art.pool is not None:
        rest = np.flatnonzero(~art.chosen)
        take = np.sort(np.random.default_rng(seed).choice(
            rest, min(len(rest), max_rows // 2), replace=False)) if len(rest) else rest
        for i in take.tolist():
            row = art.pool.row(i, named=True)
            unselected.append({"id": row["id"], "label": row.get(label) if label else None,
                               "cluster": int(art.assignment[i]) if art.assignment is not None
                               else None, "content": _content(row, art.schema)})
    return selected, unselected


def stage_rows(manifest: dict) -> list[dict]:
    """One row per stage: time, cache hit and the stage's own counts."""
    skip = {"seconds", "cache_hit", "key", "artifact"}
    stages = manifest.get("stages", {})
    order = [s for s in STAGE_ORDER if s in stages] + [s for s in stages if s not in STAGE_ORDER]
    return [{"name": name, "seconds": stages[name].get("seconds"),
             "cache_hit": stages[name].get("cache_hit"),
             "stats": {k: v for k, v in stages[name].items() if k not in skip}}
            for name in order]


def _target(art: RunArtifacts) -> np.ndarray | None:
    """The target's embeddings from the embed cache, when the run had a target."""
    if not art.config.get("target"):
        return None
    try:
        from curate.config import parse_config
        from curate.stages import target_embeddings
        from curate.store import ArtifactCache

        cfg = parse_config(art.config)
        return target_embeddings(cfg, ArtifactCache(cfg.output.cache_dir))
    except Exception as err:  # a report never fails a run: leave the target out
        art.notes.append(f"target left out of the map: {err}")
        return None


def build_context(run_dir: Path) -> dict:
    art = load_artifacts(run_dir)
    manifest = art.manifest
    subset_path = Path(run_dir) / "subset" / "subset.parquet"
    subset = pl.read_parquet(subset_path) if subset_path.exists() else art.selection
    seed = int(manifest.get("seed") or 0)

    def section(fn, *args, default=None):
        """A section that fails is left out with a note: a report never fails a run."""
        try:
            return fn(*args)
        except Exception as err:
            log.warning("report.html: %s left out (%s: %s)", fn.__name__,
                        type(err).__name__, err)
            art.notes.append(f"{fn.__name__} left out: {type(err).__name__}: {err}")
            return default

    clusters, cluster_caption = section(cluster_plot, art, default=(None, ""))
    selected, unselected = section(example_rows, art, 2, 24, seed, default=([], []))
    trained = (art.handoff or {}).get("trained") or {}
    budget = manifest.get("budget") or {}
    dropped = (manifest.get("stages", {}).get("load", {}).get("rows_dropped") or {})
    return {
        "name": manifest.get("run", Path(run_dir).name),
        "manifest": manifest,
        "pool": manifest.get("pool", {}),
        "budget": budget,
        "per_label": budget.get("per_label") or {},
        "choice": manifest.get("choice"),
        "selector": manifest.get("selector"),
        "params": manifest.get("params") or {},
        "subset_rows": subset.height,
        "synthetic": (manifest.get("subset") or {}).get("synthetic", 0),
        "dropped": dropped,
        "dedup": manifest.get("dedup"),
        "stages": stage_rows(manifest),
        "map": section(map_plot, art, _target(art), seed),
        "labels": section(label_plot, art, subset),
        "clusters": clusters,
        "cluster_caption": cluster_caption,
        "scores": section(score_plot, art),
        "thumbnails": section(thumbnail_plot, art),
        "selected": selected,
        "unselected": unselected,
        "handoff": art.handoff,
        "trained": trained,
        "loss_curve": image_uri(Path(run_dir) / trained["loss_curve"])
        if trained.get("loss_curve") else None,
        "projection": image_uri(Path(run_dir) / "projection.png"),
        "notes": art.notes,
        "has_label": bool(art.schema.get("label")),
        "has_content": bool(art.schema.get("text") or art.schema.get("prompt")),
        "has_target": bool(art.config.get("target")),
    }


def render_report(run_dir: Path) -> str:
    return render(TEMPLATE, **build_context(Path(run_dir)))


def write_html_report(run_dir: Path) -> Path:
    """Write `<run_dir>/report.html` (atomically); returns its path."""
    return write_page(Path(run_dir) / REPORT_HTML, render_report(run_dir))
