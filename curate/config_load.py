"""Reading a config: YAML from a file (with the guards a travelling config needs: size,
aliases, encoding), `KEY=VALUE` overrides, and validation into `curate.config.Config` with
errors that name the closest valid key."""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from curate.config import Config
from curate.errors import CurateError


def _field_names(model: type[BaseModel], loc: tuple) -> list[str]:
    """Valid keys of the model section that `loc` (an error location) points into."""
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


UNION_TAGS = {"str", "int", "float", "bool", "list[str]"}


def describe_validation_error(err: ValidationError, model: type[BaseModel] | None = None) -> str:
    """Every error of the config in one message (the first alone when there is one)."""
    messages = list(dict.fromkeys(_describe(e, model or Config) for e in err.errors()))
    if len(messages) == 1:
        return messages[0]
    return f"{len(messages)} config errors: " + "; ".join(
        f"({i}) {m}" for i, m in enumerate(messages, 1))


def _describe(first: dict, model: type[BaseModel]) -> str:
    # Union members name themselves in the location (select.budget.str): not a config key.
    loc = tuple(p for p in first["loc"] if p not in UNION_TAGS)
    key = ".".join(str(p) for p in loc) or "config"
    if first["type"] == "extra_forbidden":
        valid = _field_names(model, loc)
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"valid keys: {', '.join(valid)}"
        return f"unknown config key '{key}'; {hint}"
    if first["type"] == "missing":
        return f"config key '{key}' is required; add it to the config"
    return f"config key '{key}': {first['msg']}; fix the value in the config"


def config_json_schema() -> dict[str, Any]:
    """The config's JSON Schema (`curate schema`), for editor completion and checks.

    Declared draft-07: the YAML language server (VS Code, yamlls) warns on 2020-12, and
    pydantic's output uses no later keyword (its `$defs` are reached by JSON pointer)."""
    return {"$schema": "http://json-schema.org/draft-07/schema#",
            **Config.model_json_schema(), "title": "curate config"}


def parse_config(raw: dict[str, Any]) -> Config:
    try:
        return Config.model_validate(raw)
    except ValidationError as err:
        raise CurateError(describe_validation_error(err)) from None


MAX_CONFIG_NODES = 100_000


def _too_large(raw: Any) -> bool:
    """Whether the loaded YAML, with its aliases expanded, has more than MAX_CONFIG_NODES
    values. PyYAML shares aliased objects, so loading is cheap, but validation and hashing
    walk them expanded: 9 levels of 9 aliases (under 700 bytes) are 387 million strings."""
    budget = MAX_CONFIG_NODES
    stack = [raw]
    while stack:
        node = stack.pop()
        budget -= 1
        if budget < 0:
            return True
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list | tuple):
            stack.extend(node)
    return False


def apply_overrides(raw: dict, overrides: Sequence[str]) -> None:
    """Set `key=value` items (the CLI's `--set`) in the loaded YAML, in place. Dotted keys
    reach into sections (`select.params.k=5`); the value is read as YAML (`true`, `0.05`,
    `[a, b]`). Applied before validation, so a wrong key or value gets the config's own
    error, which names the key."""
    for item in overrides:
        key, equals, text = item.partition("=")
        parts = key.strip().split(".")
        if not equals or not all(p.strip() for p in parts):
            raise CurateError(f"--set '{item}' is not KEY=VALUE",
                              "write e.g. --set select.budget=20")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise CurateError(f"--set {key}: '{text}' is not a YAML value",
                              "quote it, e.g. --set 'run.name=\"a: b\"'") from None
        node = raw
        for depth, part in enumerate(parts[:-1], 1):
            if node.get(part) is None:  # absent, or an empty section (`target:`)
                node[part] = {}
            node = node[part]
            if not isinstance(node, dict):
                raise CurateError(f"--set {key}: '{'.'.join(parts[:depth])}' is a value, "
                                  "not a section", f"set '{'.'.join(parts[:depth])}' itself")
        node[parts[-1]] = value


def load_config(path: Path, allow_smaller: bool = False,
                overrides: Sequence[str] = ()) -> Config:
    """Read and validate a YAML config; `allow_smaller` overrides select.allow_smaller and
    `overrides` (KEY=VALUE, see `apply_overrides`) any key."""
    path = Path(path)
    if path.is_dir():
        raise CurateError(f"config {path} is a folder", "pass the YAML file itself")
    if not path.is_file():
        raise CurateError(f"config file not found: {path}", "check the path")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as err:
        raise CurateError(f"config {path} is not UTF-8 text (byte {err.object[err.start]:#x} "
                          f"at offset {err.start})", "save it as UTF-8") from None
    except yaml.YAMLError as err:
        raise CurateError(f"config {path} is not valid YAML ({err.__class__.__name__})",
                          "fix the syntax") from None
    if _too_large(raw):
        raise CurateError(f"config {path} expands past {MAX_CONFIG_NODES:,} values through "
                          "YAML aliases", "write the values out, or use fewer aliases")
    if not isinstance(raw, dict):
        raise CurateError(f"config {path} must be a mapping of sections", "see configs/demo.yaml")
    if allow_smaller:
        raw.setdefault("select", {})["allow_smaller"] = True
    for section in ("data", "target"):  # relative to the config file, not the shell
        entry = raw.get(section)
        if isinstance(entry, dict) and isinstance(entry.get("path"), str) \
                and not Path(entry["path"]).expanduser().is_absolute():
            entry["path"] = os.path.normpath(path.parent / entry["path"])
    # After the paths: a path typed on the command line is relative to the shell's folder.
    apply_overrides(raw, overrides)
    return parse_config(raw)
