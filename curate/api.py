"""The Python API: `curate.select(data, budget, ...)` on a DataFrame or a `datasets.Dataset`.

It runs the same stages and the same cache as `curate select` (load, embed, cluster, select,
assemble, hand-off, report): the data is written once to a content-addressed parquet file in
the cache, a Config is built from the arguments, and `run_curation` does the rest, so the
ids equal those of `curate select` on a YAML config with the same settings.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from curate.errors import CurateError
from curate.store import user_cache

if TYPE_CHECKING:
    import numpy as np

API_STAGE = "api-data"


@dataclass(frozen=True)
class SelectResult:
    """What `curate.select` chose.

    `subset`: the selected rows, in the type of the input (polars, pandas, `datasets.Dataset`
    or a list of dicts): the input's columns as given, the pool's `id`, and the selector's
    reason for each row in `curate_reason`; with synthesis also `curate_selector`,
    `curate_source` (`pool` or the generator) and `curate_parent_id`.
    A pandas input keeps its index in `subset` (the selected rows' own labels).
    `selection`: the Selection table (id, selector, round, cluster, score, reason).
    `mask`: a boolean array, one per input row, True where the row was selected.
    `run_dir`: the run folder (manifest.json, report.html, subset/, handoff.json)."""

    ids: list[str]
    selection: pl.DataFrame
    subset: Any
    manifest: dict
    run_dir: Path
    mask: Any = None  # numpy bool array aligned with the input rows

    @property
    def report_path(self) -> Path:
        return self.run_dir / "report.html"

    def __len__(self) -> int:
        return len(self.ids)

    def _chosen(self) -> str:
        choice = self.manifest.get("choice") or {}
        return f"auto -> {choice['selector']}" if choice else self.manifest.get("selector")

    def __repr__(self) -> str:
        return (f"SelectResult({len(self.ids)} of {self.manifest['pool']['rows']} rows by "
                f"{self._chosen()}; report: {self.report_path})")

    def _repr_html_(self) -> str:
        """The run's summary in a notebook: funnel, selector and why, budget, the report."""
        funnel = self.manifest.get("funnel") or {}
        reason = (self.manifest.get("choice") or {}).get("reason")
        budget = self.manifest.get("budget") or {}
        rows = [("rows", funnel.get("line") or f"{len(self.ids):,} of "
                 f"{self.manifest['pool']['rows']:,} pool rows selected"),
                ("selector", self._chosen()), ("why", reason),
                ("budget", f"{budget['total']:,} rows" if budget.get("total") else None),
                *(("warning", w) for w in funnel.get("warnings") or ())]
        cells = "".join(f"<tr><th style='text-align:left'>{k}</th><td style='text-align:left'>"
                        f"{html.escape(str(v))}</td></tr>" for k, v in rows if v)
        link = html.escape(self.report_path.resolve().as_uri())
        return (f"<div><b>curate.select</b>: {len(self.ids):,} rows<table>{cells}</table>"
                f"<a href='{link}' target='_blank'>report.html</a> "
                f"<code>{html.escape(str(self.run_dir))}</code></div>")


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


# The argument of `curate.select` behind each `data:` setting, for errors in its words.
ARGUMENTS = {"text_column": "text", "label_column": "label", "prompt_column": "prompt",
             "response_column": "response", "image_column": "image",
             "vector_column": "vectors", "id_column": "id"}


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
    Writes a run folder under `out` and keeps its cache in `cache_dir`; unset (here and in
    `config`): `user_cache()`'s `runs/` and `cache/`."""
    from curate.config_load import parse_config, read_config_file
    from curate.run import run_curation

    frame, kind = to_polars(data)
    columns = {"text_column": text, "label_column": label, "prompt_column": prompt,
               "response_column": response, "image_column": image,
               "vector_column": vectors, "id_column": id}
    _check_columns(frame, columns)
    raw: dict[str, Any] = {}
    if isinstance(config, str | Path):
        raw = read_config_file(config, allow_code)
        raw.pop("data", None)
    elif config is not None:
        raw = {k: v for k, v in dict(config).items() if k != "data"}
    frame, added = _with_embeddings(frame, embeddings)
    if added:
        columns["vector_column"] = added
    output = raw.setdefault("output", {})
    output["cache_dir"] = str(cache_dir if cache_dir is not None else
                              output.get("cache_dir") or user_cache() / "cache")
    out = out if out is not None else output.get("dir") or user_cache() / "runs"
    raw.setdefault("run", {}).setdefault("name", name)
    raw["run"]["seed"] = seed
    raw["select"] = {**raw.get("select", {}), "selector": selector, "budget": budget,
                     "params": {**raw.get("select", {}).get("params", {}), **params}}
    if allow_smaller:
        raw["select"]["allow_smaller"] = True
    stored = stored_pool(frame, Path(output["cache_dir"]))
    raw["data"] = {"path": str(stored), **{k: v for k, v in columns.items() if v is not None}}
    with _in_callers_words(stored):
        run_dir = run_curation(parse_config(raw), Path(out))
    return _result(run_dir, kind, [added] if added else [], frame, data, id)


def _check_columns(frame: pl.DataFrame, columns: dict[str, str | None]) -> None:
    """Every column argument names a column of `data` (else the error names the argument,
    not the cache file the data is stored in)."""
    for setting, column in columns.items():
        if column is not None and column not in frame.columns:
            raise CurateError(f"{ARGUMENTS[setting]}={column!r}: no such column",
                              f"columns: {', '.join(frame.columns)}")


def _with_embeddings(frame: pl.DataFrame, embeddings: Any) -> tuple[pl.DataFrame, str | None]:
    """`frame` with the precomputed vectors as a column of a free name (None: no vectors)."""
    if embeddings is None:
        return frame, None
    import numpy as np

    vectors = np.asarray(embeddings, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != frame.height:
        raise CurateError(f"embeddings must be ({frame.height}, d); got {vectors.shape}",
                          "pass one vector per row")
    name = next(n for n in ("embedding", "curate_embedding", "_curate_embedding_")
                if n not in frame.columns)
    return frame.with_columns(pl.Series(name, vectors)), name


@contextlib.contextmanager
def _in_callers_words(stored: Path):
    """A CurateError about the data names what the caller passed: `data` for the cache file
    it was stored in, the argument (`text=`) for the `data.text_column` setting."""
    try:
        yield
    except CurateError as err:
        message = str(err).replace(str(stored), "data")
        for setting, argument in ARGUMENTS.items():
            message = message.replace(f"data.{setting}", f"{argument}=")
        if message == str(err):
            raise
        raise CurateError(message) from err


def _input_ids(frame: pl.DataFrame, schema: dict, id_column: str | None) -> np.ndarray:
    """The pool id of each input row, as the load stage gives them."""
    import numpy as np

    from curate.data.pool import Schema, stable_ids

    id_column = id_column or ("id" if "id" in frame.columns else None)
    if id_column:
        return frame[id_column].cast(pl.Utf8).to_numpy().astype(str)
    return np.asarray(stable_ids(frame, Schema(**schema).content_columns()).to_list(), dtype=str)


def _result(run_dir: Path, kind: str, added: list[str], frame: pl.DataFrame, data: Any,
            id_column: str | None) -> SelectResult:
    import numpy as np

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
    load = Path(manifest["stages"]["load"]["artifact"]).with_name("manifest.json")
    ids = _input_ids(frame, read_json(load)["schema"], id_column)
    mask = np.isin(ids, selection["id"].to_numpy().astype(str))
    out = from_polars(subset, kind)
    if kind == "pandas":  # each pool row back under the input's own index label
        where = dict(zip(ids.tolist(), range(len(ids)), strict=True))
        rows = [where.get(i) for i in subset["id"].to_list()]
        if None not in rows:
            out.index = data.index[rows]
    return SelectResult(ids=selection["id"].to_list(), selection=selection, subset=out,
                        manifest=manifest, run_dir=run_dir, mask=mask)
