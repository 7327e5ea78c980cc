"""`report.html`: one self-contained page (inline PNGs and script, no network) about a run.

Built from the run's artifacts only: the run folder (manifest.json, config.yaml,
selection.parquet, scores.parquet, handoff.json, train/) and the cache entries the
manifest's stages point to (the pool, its embeddings, the whole-pool clustering). A
missing cache entry (a pruned cache, a run folder copied elsewhere) drops its section with
a note instead of failing, so `curate report` works on any run folder. This module loads
those artifacts and fills the page's template; the figures are `curate.report.plots`.
"""

from __future__ import annotations

import logging
import shlex
from pathlib import Path

import numpy as np
import polars as pl

from curate.report.artifacts import RunArtifacts, load_artifacts, report_clustering
from curate.report.compare import coverage, versus_random
from curate.report.interactive import map_data
from curate.report.page import render, write_page
from curate.report.plots import cluster_plot, image_uri, label_plot, score_plot, thumbnail_plot
from curate.report.stages import embedding_model, stage_rows

REPORT_HTML = "report.html"
TEMPLATE = "report.html.j2"
log = logging.getLogger(__name__)


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
    # The selection's columns under names of curate's own: a pool column named `reason`,
    # `cluster` or `score` (the text or the label) must not be read as the selector's.
    sel = art.selection.select("id", *(pl.col(c).alias(f"curate_{c}")
                                       for c in art.selection.columns if c != "id"))
    sel = sel.with_row_index("curate_order")
    if art.pool is not None:
        sel = sel.join(art.pool, on="id", how="left", maintain_order="left")
    group = [label] if label and label in sel.columns else []
    if "curate_cluster" in sel.columns:  # up to `per_cluster` rows of each cluster, labels in turn
        sel = sel.with_columns(pl.col("curate_order").rank("ordinal")
                               .over([*group, "curate_cluster"]).alias("curate_rank")
                               ).filter(pl.col("curate_rank") <= per_cluster)
    if group:
        sel = sel.with_columns(pl.col("curate_order").rank("ordinal").over(group)
                               .alias("curate_turn"))
        sel = sel.sort("curate_turn", "curate_order")
    sel = sel.head(max_rows).sort("curate_order")
    cluster = _pool_cluster(art)
    selected = [{"id": r["id"], "label": r.get(label) if label else None,
                 "cluster": cluster(r["id"]), "score": r.get("curate_score"),
                 "reason": r.get("curate_reason"), "content": _content(r, art.schema)}
                for r in sel.iter_rows(named=True)]
    unselected: list[dict] = []
    if art.pool is not None:
        rest = np.flatnonzero(~art.chosen)
        take = np.sort(np.random.default_rng(seed).choice(
            rest, min(len(rest), max_rows // 2), replace=False)) if len(rest) else rest
        for i in take.tolist():
            row = art.pool.row(i, named=True)
            unselected.append({"id": row["id"], "label": row.get(label) if label else None,
                               "cluster": cluster(row["id"]),
                               "content": _content(row, art.schema)})
    return selected, unselected


def _pool_cluster(art: RunArtifacts):
    """id -> "cluster c (n rows)" in the whole-pool clustering (empty without one). The
    selection's own `cluster` column is not shown: a per-label selector numbers clusters
    inside each label, from 0, so with a row or two a label every row read `cluster 0`."""
    if art.assignment is None or art.pool is None:
        return lambda row_id: ""
    sizes = np.bincount(art.assignment)
    where = dict(zip(art.pool["id"].to_list(), art.assignment.tolist(), strict=True))

    def describe(row_id: str) -> str:
        c = where.get(row_id)
        return "" if c is None else f"{c} ({sizes[c]:,} rows)"

    return describe


def _target(art: RunArtifacts) -> np.ndarray | None:
    """The target's embeddings from the embed cache, when the run had a target."""
    if not art.config.get("target"):
        return None
    try:
        from curate.config_load import parse_config
        from curate.stages import target_embeddings
        from curate.store import ArtifactCache

        cfg = parse_config(art.config)
        return target_embeddings(cfg, ArtifactCache(cfg.output.cache_dir))
    except Exception as err:  # a report never fails a run: leave the target out
        art.notes.append(f"target left out of the map: {err}")
        return None


def rebuild_command(run_dir: Path, manifest: dict) -> str:
    """`curate report <the run folder>` that works from any folder: the published folder's
    absolute path (a report written in the staging folder names the folder it becomes)."""
    folder = Path(run_dir).resolve()
    if "run" in manifest:
        folder = folder.parent / Path(manifest["run"]).name
    return f"curate report {shlex.quote(str(folder))}"


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

    section(report_clustering, art, seed)
    clusters, cluster_caption = section(cluster_plot, art, default=(None, ""))
    selected, unselected = section(example_rows, art, 2, 24, seed, default=([], []))
    trained = (art.handoff or {}).get("trained") or {}
    budget = manifest.get("budget") or {}
    return {
        "name": manifest.get("run", Path(run_dir).name),
        "rebuild": rebuild_command(run_dir, manifest),
        "manifest": manifest,
        "pool": manifest.get("pool", {}),
        "budget": budget,
        "per_label": budget.get("per_label") or {},
        "choice": manifest.get("choice"),
        "selector": manifest.get("selector"),
        "params": manifest.get("params") or {},
        "subset_rows": subset.height,
        "synthetic": (manifest.get("subset") or {}).get("synthetic", 0),
        "dropped": manifest.get("stages", {}).get("load", {}).get("rows_dropped") or {},
        "dedup": manifest.get("dedup"),
        "stages": stage_rows(manifest),
        "funnel": manifest.get("funnel") or {},
        "model": section(embedding_model, art),
        "versus": section(versus_random, art, seed, default={"why_not": "see the note above"}),
        "coverage": section(coverage, art, art.assignment, default={}),
        "clustering": art.clustering,
        "map": section(map_data, art, _target(art), seed),
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
