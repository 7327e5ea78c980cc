"""One curation run: the stages in order, then the run folder.

The order of stages is written once, here. `runner` decides how a stage is called: directly
(`curate select`, the library path) or as a Prefect task (`curate/flows/`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import functools
import importlib.metadata
import json
import os
import platform
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from curate.budget import Budget, resolve_budget
from curate.config import Config
from curate.embed import EmbeddingsRef
from curate.errors import CurateError, environment_errors, file_not_folder
from curate.lock import output_lock, run_lock
from curate.progress import capture_log, log, write_run_log
from curate.report import write_projection
from curate.report.html import write_html_report
from curate.selectors import make_selector
from curate.stages import (
    PoolRef,
    SelectionRef,
    assemble_stage,
    cluster_stage,
    dedup_stage,
    embed_stage,
    load_stage,
    select_stage,
    synthesize_stage,
    target_embeddings,
)
from curate.stages.funnel import funnel as pool_funnel
from curate.stages.funnel import log_funnel, write_dropped
from curate.store import ArtifactCache, subset_fingerprint, write_json
from curate.synth import make_generator
from curate.train.handoff import check_handoff, hand_off

Runner = Callable[..., Any]
PACKAGES = ("curate", "torch", "faiss-cpu", "transformers", "datasets", "polars", "numpy",
            "prefect", "pydantic")


def call_directly(name: str, fn: Callable, *args: Any) -> Any:
    return fn(*args)


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


CACHE_SETTING, OUT_SETTING = "output.cache_dir", "--out or output.dir"


def run_curation(cfg: Config, out_dir: Path | None = None, refresh: bool = False,
                 runner: Runner = call_directly) -> Path:
    """Run every stage and write `<out>/<name>/<timestamp>/`; returns that folder.

    Runs of the same name wait for each other (`run.lock_timeout`), see `curate.lock`.
    A read-only, full or misplaced output or cache folder is a one-line CurateError."""
    out = Path(out_dir or cfg.output.dir)
    name = cfg.run_name()  # a derived name that is no folder name fails before any work
    for folder, setting in ((out, OUT_SETTING), (cfg.output.cache_dir, CACHE_SETTING)):
        if any(p.is_file() for p in (folder, *folder.parents)):  # fail before any work
            raise file_not_folder(folder, setting)
    with environment_errors(cfg.output.cache_dir, CACHE_SETTING), \
            run_lock(cfg.output.cache_dir, name, cfg.run.lock_timeout), \
            capture_log():  # run.log in the run folder
        return _run_stages(cfg, out, refresh, runner)


def guarded(fn: Callable, where: Path, setting: str) -> Callable:
    """`fn` with environment faults turned into CurateErrors inside it, so a Prefect task
    fails with the one-line error rather than an OSError traceback."""
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        with environment_errors(where, setting):
            return fn(*args, **kwargs)
    return call


def _run_stages(cfg: Config, out_dir: Path, refresh: bool, runner: Runner) -> Path:
    cache = ArtifactCache(cfg.output.cache_dir)
    stages: dict[str, dict] = {}

    def step(name: str, fn: Callable, *args: Any) -> Any:
        started = time.perf_counter()
        ref = runner(name, guarded(fn, cfg.output.cache_dir, CACHE_SETTING), *args)
        stages[name] = {"seconds": round(time.perf_counter() - started, 3),
                        "cache_hit": ref.cache_hit, "key": ref.key,
                        "artifact": str(ref.path),
                        **ref.stats}  # e.g. embed: rows_new, rows_cached
        log.debug("stage %s: %.1f s (%s)", name, stages[name]["seconds"],
                  "cache hit" if ref.cache_hit else "computed")
        return ref

    selector = make_selector(cfg.select.selector, cfg.select.params)
    if cfg.synth.generator:  # its name and parameters are checked before any data is read
        make_generator(cfg.synth.generator, cfg.synth.params)
    pool = step("load", load_stage, cfg, cache, refresh)
    check_handoff(cfg.train, pool.schema)  # fail before the expensive stages
    budget = check_budget(cfg, pool)  # the select stage resolves it again, after dedup
    # Per-label selection clusters each label inside the select stage; only a whole-pool
    # selection uses the whole pool's clustering.
    # On Ray a sharded plan fits its k-means from the shards' keyed sample (the driver never
    # loads the whole matrix), and a gathering selector clusters what it gathered.
    needs_clusters = (selector.needs_clusters and not selector.selects_per_label(budget)
                      and cfg.run.executor == "local")
    # Selectors, synthesis and hand-off see only the deduplicated pool; the manifest
    # describes the pool as loaded.
    loaded, pool = pool, step("dedup", dedup_stage, pool, cfg, cache, refresh)
    embeddings = step("embed", embed_stage, pool, cfg, cache, refresh)
    clusters = step("cluster", cluster_stage, pool, embeddings, cfg, cache, refresh) \
        if needs_clusters else None
    selection = step("select", select_stage, pool, embeddings, clusters, cfg, cache, refresh)
    synthetic = step("synthesize", synthesize_stage, pool, selection, cfg, cache, refresh) \
        if cfg.synth.generator else None
    subset = step("assemble", assemble_stage, pool, selection, synthetic, cfg, cache, refresh)
    funnel, funnel_warnings = pool_funnel(cfg, loaded, pool, selection)

    def write(name: str, fn: Callable, *args: Any) -> Any:
        return runner(name, guarded(fn, out_dir, OUT_SETTING), *args)

    # Everything goes into a staging folder renamed into place at the end: a run folder
    # exists only when its hand-off and report do (export relies on that).
    with environment_errors(out_dir, OUT_SETTING), \
            _new_run_folder(out_dir, cfg.run_name(), cfg.run.lock_timeout,
                            cfg.run.keep_last) as (staging, run_dir):
        write("write", write_run_folder, cfg, loaded, selection, subset, stages, staging,
              f"{run_dir.parent.name}/{run_dir.name}", funnel)
        write("projection", projection_stage, cfg, staging, pool, embeddings, selection,
              cache)
        write("handoff", hand_off, cfg, staging, pool, embeddings)
        write("report", write_html_report, staging)
        # The run's summary, once its folder is written (a failed write is the news then)
        log_funnel(funnel, funnel_warnings)
        write_run_log(staging)
    return run_dir


def check_budget(cfg: Config, pool) -> Budget:
    """Resolve the budget against the loaded pool (`pool`, a PoolRef), so a budget the pool
    cannot meet (too large, too many per label, stratified without labels) fails in seconds,
    not after embedding and clustering. Reads the label column only."""
    label = pool.schema.get("label")
    labels = None
    if label:
        column = pl.read_parquet(pool.path, columns=[label])[label]
        labels = column.cast(pl.Utf8).fill_null("").to_numpy().astype(str)
    return resolve_budget(cfg.select.budget, pool.rows, labels, cfg.select.allow_smaller,
                          cfg.select.stratify)


def run_stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


# The whole name of a run's staging folder, `.<run folder>.tmp`, and nothing a user would
# name a folder: the cleanup deletes these and only these.
STAGING = re.compile(r"\.\d{8}T\d{6}Z(-\d+)?\.tmp")


@contextlib.contextmanager
def _new_run_folder(out_dir: Path, name: str, timeout: float,
                    keep_last: int | None = None) -> Iterator[tuple[Path, Path]]:
    """Yield (staging folder, run folder) for a new run folder of `out_dir/<name>/`, and
    rename the staging folder into place if the block succeeds (then point `latest` at it
    and keep the newest `keep_last` runs); delete it if not.

    Held under the output lock of `name`: runs of one name, whatever their caches, write
    their run folders in turn, so the staging folders the cleanup finds are killed runs'."""
    parent = out_dir / name
    with output_lock(out_dir, name, timeout):
        for leftover in parent.glob(".*.tmp"):
            if STAGING.fullmatch(leftover.name) and leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
        staging, run_dir = _reserve(parent)
        try:
            yield staging, run_dir
            try:  # fails on a non-empty folder: a published run is never replaced
                os.rename(staging, run_dir)
            except OSError as err:
                if err.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                    raise
                raise CurateError(f"{run_dir} appeared while this run wrote it",
                                  "run the config again; its cache makes that quick") from None
            point_latest(run_dir)
            if keep_last:
                prune_runs(parent, keep_last)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _reserve(parent: Path) -> tuple[Path, Path]:
    """A run folder no run has taken, named by the time to the second, and its staging
    folder. Creating the staging folder reserves the name (mkdir fails on an existing one);
    the run folder is checked after that, so a name published meanwhile is skipped too."""
    parent.mkdir(parents=True, exist_ok=True)
    stamp, n = run_stamp(), 0
    while True:
        name, n = (f"{stamp}-{n}" if n else stamp), n + 1
        staging = parent / f".{name}.tmp"
        try:
            staging.mkdir()
        except FileExistsError:
            continue
        if not os.path.lexists(parent / name):
            return staging, parent / name
        staging.rmdir()


def write_run_folder(cfg: Config, pool, selection, subset_ref, stages: dict, folder: Path,
                     name: str, funnel: dict) -> Path:
    """Write config, manifest (with the run's `funnel`), selection, subset and the rows the
    stages dropped into `folder` (the staging folder of the run `<name>/<timestamp>`,
    `name`)."""
    import datasets

    datasets.disable_progress_bars()
    subset = subset_ref.load()
    tmp = Path(folder)
    (tmp / "subset").mkdir(parents=True)
    (tmp / "config.yaml").write_text(yaml.safe_dump(settings_as_written(cfg), sort_keys=False))
    shutil.copyfile(selection.path, tmp / "selection.parquet")
    if (scores := selection.path.with_name("scores.parquet")).exists():
        shutil.copyfile(scores, tmp / "scores.parquet")
    write_dropped([s["artifact"] for stage, s in stages.items() if stage in ("load", "dedup")],
                  tmp / "dropped.parquet")
    dedup = stages.get("dedup")
    if (synthetic := stages.get("synthesize")) is not None:
        shutil.copyfile(synthetic["artifact"], tmp / "synthetic.parquet")
    subset.write_parquet(tmp / "subset" / "subset.parquet")
    datasets.Dataset.from_polars(subset).save_to_disk(str(tmp / "subset" / "dataset"))
    write_json(tmp / "manifest.json", {
        "run": name,
        "versions": package_versions(),
        "seed": cfg.run.seed,
        "pool": {"origin": pool.origin, "fingerprint": pool.fingerprint, "rows": pool.rows},
        "funnel": funnel,
        "selector": cfg.select.selector,
        "params": cfg.select.params,
        "choice": selection.choice,
        "dedup": {k: dedup[k] for k in ("rows_in", "rows_out", "exact", "near",
                                        "label_conflicts", "keep", "near_threshold")}
        if dedup else None,
        "budget": selection.budget,
        "subset": {"rows": subset.height, "fingerprint": subset_fingerprint(subset),
                   **subset_ref.stats},
        "synth": cfg.synth.model_dump(mode="json") if cfg.synth.generator else None,
        "stages": stages,
        "cache_hits": all(s["cache_hit"] for s in stages.values()),
    })
    return tmp


def projection_stage(cfg: Config, run_dir: Path, pool_ref: PoolRef, embeddings: EmbeddingsRef,
                     selection: SelectionRef, cache: ArtifactCache) -> Path | None:
    """With a target: `projection.png` in the run folder (target vs pool vs selection)."""
    target = target_embeddings(cfg, cache)
    if target is None:
        return None
    ids = pool_ref.load().ids
    chosen = np.flatnonzero(np.isin(ids, selection.load()["id"].to_numpy()))
    return write_projection(Path(run_dir) / "projection.png", embeddings.load(), target, chosen,
                            seed=cfg.run.seed)


# A published run folder's name (its time, and a counter for runs in the same second).
PUBLISHED = re.compile(r"(\d{8}T\d{6}Z)(?:-(\d+))?")
LATEST = "latest"


def published_runs(parent: Path) -> list[Path]:
    """The run folders curate published in `parent` (`out/<name>/`), oldest first: named by
    their time, not a link, with a manifest naming that very folder, so that retention and
    `latest` never take a folder of the user's for a run."""
    runs = []
    for path in parent.iterdir() if parent.is_dir() else ():
        match = PUBLISHED.fullmatch(path.name)
        if not match or path.is_symlink() or not path.is_dir():
            continue
        try:
            manifest = json.loads((path / "manifest.json").read_text())
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict) and manifest.get("run") == f"{parent.name}/{path.name}":
            runs.append(((match.group(1), int(match.group(2) or 0)), path))
    return [path for _, path in sorted(runs)]


def point_latest(run_dir: Path) -> None:
    """`<name>/latest` -> `run_dir`: a relative link (the folder can move), or a text file
    holding the run folder's name where the filesystem has no links. Replaced in one rename,
    so a reader never finds it missing; a real folder named `latest` is the user's."""
    link = run_dir.parent / LATEST
    if link.is_dir() and not link.is_symlink():
        log.warning("%s is a folder, not curate's link to the newest run: left as is", link)
        return
    tmp = run_dir.parent / f".{LATEST}.tmp"  # under the output lock: one writer
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.symlink(run_dir.name, tmp, target_is_directory=True)
    except OSError:  # e.g. Windows without the privilege, FAT, some network mounts
        tmp.write_text(run_dir.name + "\n")
    os.replace(tmp, link)


def prune_runs(parent: Path, keep_last: int) -> None:
    """run.keep_last: delete all but the newest `keep_last` published runs of `parent`."""
    for old in published_runs(parent)[:-keep_last]:
        shutil.rmtree(old)
        log.info("run.keep_last %d: deleted %s", keep_last, old)


def settings_as_written(cfg: Config) -> dict:
    """The run folder's config.yaml: the config with its output folders absolute, so the
    file names the same folders when run again from the run folder or anywhere else (an
    unset output folder is the working directory's)."""
    settings = cfg.model_dump(mode="json")
    for key in ("dir", "cache_dir"):
        settings["output"][key] = os.path.abspath(settings["output"][key])
    return settings


def unchanged_since(cfg: Config, out_dir: Path | None = None) -> Path | None:
    """The newest published run of the config's name when a new run would repeat it, else
    None. A run is repeated when its settings (config.yaml), package versions and pool
    content are the same: the load stage's key holds the source's content digest and the
    seed, and the same settings, seed and pool give the same ids. Runs the load stage (a
    cache hit when the pool is unchanged)."""
    runs = published_runs(Path(out_dir or cfg.output.dir) / cfg.run_name())
    if not runs:
        return None
    try:
        manifest = json.loads((runs[-1] / "manifest.json").read_text())
        settings = yaml.safe_load((runs[-1] / "config.yaml").read_text())
    except (OSError, ValueError, yaml.YAMLError):
        return None
    if settings != settings_as_written(cfg) or manifest.get("versions") != package_versions():
        return None
    with environment_errors(cfg.output.cache_dir, CACHE_SETTING):
        pool = load_stage(cfg, ArtifactCache(cfg.output.cache_dir))
    return runs[-1] if manifest.get("stages", {}).get("load", {}).get("key") == pool.key else None
