"""Read a source (local file, `datasets` folder, Hub id or builtin) into a validated Pool."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from curate.config import DataConfig
from curate.data.builtin import load_builtin
from curate.data.pool import BOOKKEEPING, Pool, Schema, dropped_rows, stable_ids
from curate.errors import CurateError

BOM = b"\xef\xbb\xbf"


# Every reader takes the path as a file's name, never as a glob pattern: polars would read
# `pool[1].parquet` as no file and `pool*.parquet` as every file it matches.
def _read_ndjson(path: Path) -> pl.DataFrame:
    # Read from an open file (no glob), past a UTF-8 byte order mark, as a csv is read.
    # Types from the whole file, not its first 100 rows: a column of ints that turns into
    # strings later is valid data (polars would call the file malformed).
    with open(path, "rb") as f:
        if f.read(len(BOM)) != BOM:
            f.seek(0)
        return pl.read_ndjson(f, infer_schema_length=None)


def _read_csv(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema_length=None, glob=False)


def _read_parquet(path: Path) -> pl.DataFrame:
    return pl.read_parquet(path, glob=False)


FILE_READERS = {
    ".parquet": _read_parquet,
    ".jsonl": _read_ndjson,
    ".ndjson": _read_ndjson,
    ".json": _read_ndjson,
    ".csv": _read_csv,
}


def _read_file(path: Path) -> pl.DataFrame:
    reader = FILE_READERS.get(path.suffix.lower())
    if reader is None:
        raise CurateError(f"cannot read {path}: unknown file type '{path.suffix}'",
                          f"use one of {', '.join(FILE_READERS)} or a datasets folder")
    try:
        return reader(path)
    except Exception as err:  # polars raises many types for malformed files
        if reader is _read_ndjson and (bad := _first_bad_json_line(path)):
            raise CurateError(f"cannot read {path}: {bad}",
                              "fix that line: each line must be one JSON object (JSON Lines), "
                              "and the file UTF-8") from None
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CurateError(f"cannot read {path}: {first_line}",
                          "check that the file is valid and not truncated") from None


def _first_bad_json_line(path: Path) -> str | None:
    """Where a JSON Lines file goes wrong, by line number (polars names none: "Syntax at
    character 0", "line 0" for bad UTF-8), or None when every line is a JSON object."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as err:
                return f"line {number} is not UTF-8 (byte {err.start + 1} of the line)"
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as err:
                where = err.msg if err.msg.endswith(" at") else f"{err.msg} at"
                return f"line {number} is not valid JSON ({where} column {err.colno})"
            if not isinstance(value, dict):
                return f"line {number} is not a JSON object"
    return None


def _from_datasets(dataset) -> pl.DataFrame:
    return pl.from_arrow(dataset.with_format("arrow")[:])


def require_local(path: Path) -> None:
    """Fail on a data.path that does not exist, or is neither a file nor a folder (a FIFO,
    a device: `datasets` would take it for a Hub id); also checked before Prefect starts."""
    if not path.exists():
        raise CurateError(f"data file not found: {path}", "check data.path")
    if not (path.is_file() or path.is_dir()):
        raise CurateError(f"{path} is not a regular file or folder",
                          "point data.path at a data file or a dataset folder")


def _read_local(path: Path, split: str) -> pl.DataFrame:
    require_local(path)
    if path.is_file():
        return _read_file(path)
    import datasets

    if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists():
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            loaded = _pick_split(loaded, split, str(path))
        return _from_datasets(loaded)
    if not any(f.suffix.lower() in FILE_READERS for f in path.rglob("*") if f.is_file()):
        raise CurateError(f"{path} is a folder with no data in it (no datasets save_to_disk "
                          f"files, no {', '.join(FILE_READERS)} files)",
                          "give a data file or a folder of them, or a YAML config")
    return _load_dataset(str(path), split)


def _pick_split(dataset_dict, split: str, name: str):
    if split not in dataset_dict:
        raise CurateError(f"split '{split}' not in {name}",
                          f"set data.split to one of: {', '.join(dataset_dict)}")
    return dataset_dict[split]


def _load_dataset(name: str, split: str) -> pl.DataFrame:
    """The real Hub path: `datasets.load_dataset` (a Hub id, or a local folder of files)."""
    import datasets

    try:
        loaded = datasets.load_dataset(name, split=split)
    except ValueError as err:
        if "split" in str(err).lower():
            raise CurateError(f"split '{split}' not found in {name}",
                              "set data.split to an existing split") from None
        raise CurateError(f"cannot load dataset {name}: {err}", "check data.source") from None
    except (FileNotFoundError, ConnectionError, OSError) as err:
        raise CurateError(f"cannot load dataset {name} ({type(err).__name__})",
                          "check the id, your network, or HF_HUB_OFFLINE") from None
    return _from_datasets(loaded)


def _read_raw(cfg: DataConfig) -> tuple[pl.DataFrame, Schema | None, str]:
    if cfg.path is not None:
        return _read_local(Path(cfg.path), cfg.split), None, str(cfg.path)
    if cfg.source.startswith("builtin:"):
        frame, schema = load_builtin(cfg.source.removeprefix("builtin:"))
        return frame, schema, cfg.source
    return _load_dataset(cfg.source, cfg.split), None, cfg.source


def _guess_schema(columns: list[str]) -> Schema:
    """Conventional column names, used when the config names no content column."""
    prompt_response = "prompt" in columns and "response" in columns
    return Schema(text="text" if "text" in columns and not prompt_response else None,
                  prompt="prompt" if prompt_response else None,
                  response="response" if prompt_response else None,
                  image="image" if "image" in columns else None,
                  label="label" if "label" in columns else None)


def _schema_from_config(cfg: DataConfig, default: Schema) -> Schema:
    explicit = any([cfg.text_column, cfg.prompt_column, cfg.image_column, cfg.vector_column])
    if not explicit:
        return Schema(text=default.text, prompt=default.prompt, response=default.response,
                      image=default.image, image_shape=default.image_shape,
                      label=cfg.label_column or default.label)
    return Schema(text=cfg.text_column, prompt=cfg.prompt_column,
                  response=cfg.response_column, image=cfg.image_column,
                  vectors=cfg.vector_column, label=cfg.label_column or default.label)


def _check_columns(frame: pl.DataFrame, schema: Schema, id_column: str | None, origin: str):
    wanted = {"data.id_column": id_column, "data.text_column": schema.text,
              "data.prompt_column": schema.prompt, "data.response_column": schema.response,
              "data.image_column": schema.image, "data.vector_column": schema.vectors,
              "data.label_column": schema.label}
    for key, column in wanted.items():
        if column and column not in frame.columns:
            raise CurateError(f"column '{column}' ({key}) not in {origin}",
                              f"set {key} to one of: {', '.join(frame.columns)}")
    if not (schema.text or schema.image or schema.vectors or (schema.prompt and schema.response)):
        raise CurateError(f"no content column set for {origin}",
                          "set data.text_column (or prompt_column + response_column, "
                          f"image_column, vector_column); columns are: {', '.join(frame.columns)}")


def load_pool(cfg: DataConfig, seed: int = 0) -> Pool:
    """Load, validate and id a pool. Raises CurateError on any unusable input."""
    frame, default_schema, origin = _read_raw(cfg)
    schema = _schema_from_config(cfg, default_schema or _guess_schema(frame.columns))
    id_column = cfg.id_column or ("id" if "id" in frame.columns else None)
    _check_columns(frame, schema, id_column, origin)
    _check_own_names(frame, id_column, origin)
    if frame.height == 0:
        raise CurateError(f"the pool {origin} has no rows", "point data at a non-empty source")
    ids = _ids(frame, id_column, origin) if id_column else \
        stable_ids(frame, schema.content_columns())
    frame = frame.with_columns(ids.alias("id")).select("id", pl.exclude("id"))
    # Rows in id order: every later stage (sample, embed, cluster, select) then sees the
    # same pool whatever the order of the source's rows, so a shuffled pool selects the
    # same ids. Ids are unique, so a frame already in id order is that order: not copied.
    if not frame["id"].is_sorted():
        frame = frame.sort("id")
    read = frame.height
    frame, dropped, rows = _drop_unusable(frame, schema, origin, cfg.keep_empty,
                                          cfg.keep_unlabelled)
    frame = sample_rows(frame, cfg.sample, seed)
    return Pool(frame=frame, schema=schema, origin=origin, dropped=dropped, dropped_rows=rows,
                read=read)


def sample_rows(frame: pl.DataFrame, n: int | None, seed: int) -> pl.DataFrame:
    """A seeded random sample of `n` rows (all of them when n is None or not smaller), in
    the frame's order: data.sample and target.sample."""
    if n is None or n >= frame.height:
        return frame
    return frame[np.sort(np.random.default_rng(seed).choice(frame.height, n, replace=False))]


def _check_own_names(frame: pl.DataFrame, id_column: str | None, origin: str) -> None:
    """Refuse the columns curate would have to replace: its bookkeeping's names, and the
    user's own `id` when data.id_column names another column (curate's row id is `id`)."""
    for name in frame.columns:
        if name in BOOKKEEPING:
            raise CurateError(f"column '{name}' in {origin} has a name curate keeps for its "
                              "own bookkeeping", f"rename the column '{name}' in the data")
    if id_column not in (None, "id") and "id" in frame.columns:
        raise CurateError(f"column 'id' in {origin} would be replaced by the ids of "
                          f"data.id_column '{id_column}'",
                          "rename the column 'id' in the data, or set data.id_column: id")


def _ids(frame: pl.DataFrame, id_column: str, origin: str) -> pl.Series:
    """The id column as strings: present, unique and not blank in every row."""
    ids = frame[id_column].cast(pl.Utf8)
    fix = "fix the ids, or unset data.id_column to use content hashes"
    if ids.null_count() or ids.n_unique() != frame.height:
        raise CurateError(f"id column '{id_column}' in {origin} has missing or repeated ids",
                          fix)
    if (blank := int((ids.str.strip_chars() == "").sum())):
        raise CurateError(f"id column '{id_column}' in {origin} has {blank} empty or blank "
                          "ids", fix)
    return ids


def _drop_unusable(frame: pl.DataFrame, schema: Schema, origin: str, keep_empty: bool = False,
                   keep_unlabelled: bool = False) -> tuple[pl.DataFrame, dict, pl.DataFrame]:
    """Leave out rows no stage can use: (the rest, counts by reason, the rows left out as
    `dropped_rows` lists them). A null label has no class to be stratified into or trained
    on (unless `keep_unlabelled`: then the unlabelled rows are a group of their own). A null,
    empty or whitespace-only text (either side of a prompt/response pair) embeds to a point
    that means nothing and trains on nothing (unless `keep_empty`)."""
    counts: dict[str, int] = {}
    parts = [dropped_rows(frame.head(0), schema, [])]
    text_columns = [c for c in (schema.text, schema.prompt, schema.response) if c]
    if text_columns and not keep_empty:
        blank = pl.any_horizontal(
            pl.col(c).cast(pl.Utf8).str.strip_chars().fill_null("") == "" for c in text_columns)
        blank = frame.select(blank.alias("blank"))["blank"]
        if blank.all():
            raise CurateError(f"no row of {origin} has text in column(s) "
                              f"{', '.join(text_columns)}",
                              "fill the text, or set data.keep_empty: true to keep blank rows")
        if blank.any():
            counts["empty_text"] = int(blank.sum())
            parts.append(dropped_rows(frame.filter(blank), schema, "empty text"))
            frame = frame.filter(~blank)
    if schema.label:
        null = frame[schema.label].is_null()
        if null.all():
            raise CurateError(f"no row of {origin} has a label in column '{schema.label}'",
                              "fill the labels, or unset data.label_column")
        if null.any() and not keep_unlabelled:
            counts["null_label"] = int(null.sum())
            parts.append(dropped_rows(frame.filter(null), schema, "no label"))
            frame = frame.filter(~null)
    return frame, counts, pl.concat(parts)
