"""The Python API: `curate.select(data, budget, ...)` on a DataFrame or a `datasets.Dataset`.

It runs the same stages and the same cache as `curate select` (load, embed, cluster, select,
assemble, hand-off, report): the data is written once to a content-addressed parquet file in
the cache, a Config is built from the arguments, and `run_curation` does the rest, so the
ids equal those of `curate select` on a YAML config with the same settings.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from curate.errors import CurateError

API_STAGE = "api-data"


@dataclass(frozen=True)
class SelectResult:
    """What `curate.select` chose.

    `subset`: the selected rows, in the type of the input (polars, pandas, `datasets.Dataset`
    or a list of dicts): the input's columns as given, the pool's `id`, and the selector's
    reason for each row in `curate_reason`; with synthesis also `curate_selector`,
    `curate_source` (`pool` or the generator) and `curate_parent_id`.
    `selection`: the Selection table (id, selector, round, cluster, score, reason).
    `run_dir`: the run folder (manifest.json, report.html, subset/, handoff.json)."""

    ids: list[str]
    selection: pl.DataFrame
    subset: Any
    manifest: dict
    run_dir: Path

    @property
    def report_path(self) -> Path:
        return self.run_dir / "report.html"

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        choice = self.manifest.get("choice") or {}
        chosen = f"auto -> {choice['selector']}" if choice else self.manifest.get("selector")
        return (f"SelectResult({len(self.ids)} of {self.manifest['pool']['rows']} rows by "
                f"{chosen}; report: {self.report_path})")


def to_polars(data: Any) -> tuple[pl.DataFrame, str]:
    """The data as a polars frame, and the name of its kind (to convert the subset back)."""
    if isinstance(data, pl.DataFrame):
        return data, "polars"
    if isinstance(data, list):
        if not all(isinstance(row, dict) for row in data):
            raise CurateError("curate.select got a list that is not of dicts",
                              "pass a list of row dicts, a DataFrame or a datasets.Dataset")
        return pl.DataFrame(data, infer_schema_length=None), "records"
    kind = type(data).__module__.split(".")[0]
    if kind == "pandas":
        return pl.from_pandas(data), "pandas"
    if kind == "datasets" and hasattr(data, "to_polars"):
        return data.to_polars(), "datasets"
    raise CurateError(f"curate.select cannot read a {type(data).__name__}",
                      "pass a polars or pandas DataFrame, a datasets.Dataset or a list of dicts")


def from_polars(frame: pl.DataFrame, kind: str) -> Any:
    if kind == "pandas":
        return frame.to_pandas()
    if kind == "datasets":
        import datasets

        return datasets.Dataset.from_polars(frame)
    if kind == "records":
        return frame.to_dicts()
    return frame


def stored_pool(frame: pl.DataFrame, cache_dir: Path) -> Path:
    """`frame` as a parquet file in the cache, named by its bytes: the same data gives the
    same file (and so a load-stage cache hit) on every call."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    data = buffer.getvalue()
    path = Path(cache_dir) / API_STAGE / f"{hashlib.sha256(data).hexdigest()[:32]}.parquet"
    if not path.exists():
        from curate.store import atomic_path

        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            Path(tmp).write_bytes(data)
    return path


def select(data: Any, budget: str | int | float, selector: str = "auto", *,
           text: str | None = None, label: str | None = None, prompt: str | None = None,
           response: str | None = None, image: str | None = None, vectors: str | None = None,
           id: str | None = None, embeddings: Any = None, seed: int = 0,
           config: dict | str | Path | None = None, out: str | Path | None = None,
           cache_dir: str | Path | None = None, name: str = "select",
           allow_smaller: bool = False, allow_code: bool = False,
           **params: Any) -> SelectResult:
    """Choose `budget` rows of `data` with `selector` (`auto` by default).

    data: a polars or pandas DataFrame, a `datasets.Dataset` or a list of dicts.
    budget: a count (1000), a fraction (0.02 or "2%") or "N per label".
    text / prompt + response / image / vectors, label, id: the column names, as in the
    config's `data:` section (unset: guessed from the column names, as for files).
    embeddings: an (N, d) array of precomputed vectors, used instead of an encoder.
    config: other config sections (embed, cluster, scoring, train...) as a dict or a YAML
    file; the arguments here take precedence. allow_code: let a config file name Python
    code (package.module:Class), as `curate select --allow-code`. **params: the selector's
    parameters.
    Writes a run folder under `out` (default: output.dir, `runs`) like `curate select`."""
    import numpy as np

    from curate.config import OutputConfig
    from curate.config_load import parse_config, read_config_file
    from curate.run import run_curation

    frame, kind = to_polars(data)
    added: list[str] = []  # columns curate adds for its own use, dropped from the subset
    raw: dict[str, Any] = {}
    if isinstance(config, str | Path):
        raw = read_config_file(config, allow_code)
        raw.pop("data", None)
    elif config is not None:
        raw = {k: v for k, v in dict(config).items() if k != "data"}
    if embeddings is not None:
        vectors_array = np.asarray(embeddings, dtype=np.float32)
        if vectors_array.ndim != 2 or len(vectors_array) != frame.height:
            raise CurateError(f"embeddings must be ({frame.height}, d); got "
                              f"{vectors_array.shape}", "pass one vector per row")
        vectors = next(n for n in ("embedding", "curate_embedding", "_curate_embedding_")
                       if n not in frame.columns)
        frame = frame.with_columns(pl.Series(vectors, vectors_array))
        added.append(vectors)
    raw.setdefault("output", {})
    if cache_dir is not None:
        raw["output"]["cache_dir"] = str(cache_dir)
    raw.setdefault("run", {}).setdefault("name", name)
    raw["run"]["seed"] = seed
    raw["select"] = {**raw.get("select", {}), "selector": selector, "budget": budget,
                     "params": {**raw.get("select", {}).get("params", {}), **params}}
    if allow_smaller:
        raw["select"]["allow_smaller"] = True
    columns = {"text_column": text, "label_column": label, "prompt_column": prompt,
               "response_column": response, "image_column": image,
               "vector_column": vectors, "id_column": id}
    cache = OutputConfig(**raw["output"]).cache_dir
    raw["data"] = {"path": str(stored_pool(frame, cache)),
                   **{k: v for k, v in columns.items() if v is not None}}
    cfg = parse_config(raw)
    run_dir = run_curation(cfg, Path(out) if out is not None else None)
    return _result(run_dir, kind, added)


def _result(run_dir: Path, kind: str, added: list[str]) -> SelectResult:
    from curate.data.pool import PARENT_ID, REASON, SELECTOR, SOURCE
    from curate.store import read_json

    manifest = read_json(run_dir / "manifest.json")
    selection = pl.read_parquet(run_dir / "selection.parquet")
    subset = pl.read_parquet(run_dir / "subset" / "subset.parquet")
    subset = subset.join(selection.select("id", pl.col("reason").alias(REASON)), on="id",
                         how="left", maintain_order="left")
    # Without synthesis every row is a pool row chosen by the run's selector: the other
    # bookkeeping columns would say nothing that `selection` does not.
    drop = [*added, *(() if manifest.get("synth") else (SELECTOR, SOURCE, PARENT_ID))]
    subset = subset.drop([c for c in drop if c in subset.columns])
    return SelectResult(ids=selection["id"].to_list(), selection=selection,
                        subset=from_polars(subset, kind), manifest=manifest, run_dir=run_dir)
