"""Reading a config: YAML from a file (with the guards a travelling config needs: size,
aliases, encoding, tags, duplicate keys, code it would import), `KEY=VALUE` overrides, and
validation into `curate.config.Config` with errors that name the closest valid key.
`read_config_file` is the one reader, for the CLI and `curate.select(config=...)` alike."""

from __future__ import annotations

import difflib
import json
import os
import stat
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
        set_setting(raw, key.strip(), value)


def set_setting(raw: dict, key: str, value: Any) -> None:
    """Set the dotted setting `key` (`select.params.k`) to `value` in `raw`, in place."""
    parts = key.split(".")
    node = raw
    for depth, part in enumerate(parts[:-1], 1):
        if node.get(part) is None:  # absent, or an empty section (`target:`)
            node[part] = {}
        node = node[part]
        if not isinstance(node, dict):
            raise CurateError(f"--set {key}: '{'.'.join(parts[:depth])}' is a value, "
                              "not a section", f"set '{'.'.join(parts[:depth])}' itself")
    node[parts[-1]] = value


def absolute_overrides(overrides: Sequence[str]) -> list[str]:
    """`overrides` with each relative path value made absolute against the working
    directory, for a process that reads them elsewhere (`curate serve`'s scheduled runs)."""
    result = []
    for item in overrides:
        key, _, text = item.partition("=")
        raw: dict[str, Any] = {}
        apply_overrides(raw, [item])
        resolve_paths(raw, Path.cwd(), [key.strip()])
        node: Any = raw
        for part in key.strip().split("."):
            node = node[part]
        result.append(item if node == yaml.safe_load(text) else f"{key}={json.dumps(node)}")
    return result


def load_config(path: Path, allow_smaller: bool = False, overrides: Sequence[str] = (),
                allow_code: bool = False) -> Config:
    """Read (`read_config_file`) and validate a YAML config; `allow_smaller` overrides
    select.allow_smaller and `overrides` (KEY=VALUE, see `apply_overrides`) any key."""
    raw = read_config_file(path, allow_code)
    return _with_command_line(raw, str(path), allow_smaller, overrides, allow_code)


def _with_command_line(raw: dict, where: str, allow_smaller: bool, overrides: Sequence[str],
                       allow_code: bool, settings: dict[str, Any] | None = None) -> Config:
    """`raw` with the command line's settings (flags, then `--set`), validated."""
    if allow_smaller:
        raw.setdefault("select", {})["allow_smaller"] = True
    for key, value in (settings or {}).items():
        set_setting(raw, key, value)
    # After the file's paths: a path typed on the command line is relative to the shell's.
    apply_overrides(raw, overrides)
    resolve_paths(raw, Path.cwd(), [*(settings or {}),
                                    *(item.partition("=")[0].strip() for item in overrides)])
    require_code_opt_in(raw, where, allow_code)  # a --set can name code too
    return parse_config(raw)


CONFIG_SUFFIXES = (".yaml", ".yml")


def data_origin(entry: str) -> dict[str, str]:
    """A data or target section's origin: a local path when one exists, else a source
    (builtin:NAME or a Hub id)."""
    if entry.startswith("builtin:") or not Path(entry).exists():
        return {"source": entry}
    return {"path": entry}


def load_config_or_data(arg: str, allow_smaller: bool = False, overrides: Sequence[str] = (),
                        allow_code: bool = False, settings: dict[str, Any] | None = None
                        ) -> Config:
    """A YAML config (`.yaml`/`.yml`), or a pool (a file, datasets folder, builtin:NAME or
    Hub id) run on the defaults; `settings` (dotted key -> value, e.g. the command line's
    --budget) are set before `overrides` (--set items)."""
    if Path(arg).suffix.lower() in CONFIG_SUFFIXES:
        raw = read_config_file(arg, allow_code)
    else:
        raw = {}
        settings = {f"data.{key}": value for key, value in data_origin(arg).items()
                    } | (settings or {})
    return _with_command_line(raw, arg, allow_smaller, overrides, allow_code, settings)


MAX_CONFIG_BYTES = 1_000_000  # settings, not data: data belongs in data.path
MAX_CONFIG_NODES = 100_000


def read_config_file(path: str | Path, allow_code: bool = False) -> dict[str, Any]:
    """The sections of a YAML config file, as plain values: what `load_config` validates
    and `curate.select(config=...)` merges its arguments into, so both refuse the same
    files in one line. Every relative path in it is made absolute against the file's folder
    (`resolve_paths`); a setting that names code is refused without `allow_code`
    (`require_code_opt_in`)."""
    path = Path(path)
    raw = _parse_yaml(_read_text(path), path)
    raw = {} if raw is None else raw  # an empty file, or only comments
    if _too_large(raw):
        raise CurateError(f"config {path} expands past {MAX_CONFIG_NODES:,} values through "
                          "YAML aliases", "write the values out, or use fewer aliases")
    if not isinstance(raw, dict):
        raise CurateError(f"config {path} must be a mapping of sections", "see configs/demo.yaml")
    resolve_paths(raw, path.parent)  # relative to the config file, not the shell
    require_code_opt_in(raw, str(path), allow_code)
    return raw


# Settings that name a file or folder, and settings that name a model or dataset: a local
# folder when it starts with `.` or exists (as the loaders decide), else a Hub id or builtin.
PATH_SETTINGS = ("data.path", "target.path", "output.dir", "output.cache_dir", "bench.out")
NAME_SETTINGS = ("data.source", "target.source", "embed.model", "bench.probe_embed.model",
                 "scoring.effort_model", "scoring.lm_model", "bench.lora.model",
                 "bench.finetune.model", "train.lora.model")


def resolve_paths(raw: dict[str, Any], base: Path, only: Sequence[str] | None = None) -> None:
    """Make every relative path setting in `raw` absolute against `base` (a config file's
    folder, or the working directory for `--set` values), in place. Absolute, so that the
    cache keys that hold a path are the same from any working directory. `only`: these
    dotted settings alone."""
    base = Path(os.path.abspath(base))
    for setting in PATH_SETTINGS + NAME_SETTINGS:
        if only is not None and setting not in only:
            continue
        *sections, key = setting.split(".")
        node = raw
        for section in sections:
            node = node.get(section) if isinstance(node, dict) else None
        value = node.get(key) if isinstance(node, dict) else None
        if not isinstance(value, str) or not value or value.startswith("builtin:") \
                or Path(value).expanduser().is_absolute():
            continue
        if setting in NAME_SETTINGS and not (value.startswith(".") or (base / value).exists()):
            continue
        node[key] = os.path.normpath(base / value)


def _read_text(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise CurateError(f"config {path} is a folder", "pass the YAML file itself")
        if not stat.S_ISREG(mode):  # a pipe or device: reading could wait forever
            raise CurateError(f"config {path} is not a regular file",
                              "pass the YAML file itself")
        with path.open("rb") as file:
            data = file.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise CurateError(f"config file not found: {path}", "check the path") from None
    except OSError as err:
        raise CurateError(f"cannot read config {path} ({err.strerror or err})",
                          "check the path and its permissions") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise CurateError(f"config {path} is larger than {MAX_CONFIG_BYTES:,} bytes",
                          "a config holds settings: put the data in a file named by data.path")
    try:
        return data.decode("utf-8-sig")  # a BOM, as editors on Windows write, is no error
    except UnicodeDecodeError as err:
        raise CurateError(f"config {path} is not UTF-8 text (byte {err.object[err.start]:#x} "
                          f"at offset {err.start})", "save it as UTF-8") from None


def _parse_yaml(text: str, path: Path) -> Any:
    """The YAML document (None when empty) with safe tags only and no duplicated key."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _refuse_duplicate_keys(node, path)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        line = f"line {err.problem_mark.line + 1}: " if err.problem_mark else ""
        if isinstance(err, yaml.constructor.ConstructorError):  # !!python/... and the like
            raise CurateError(f"config {path}, {line}{err.problem}",
                              "a config holds plain values: remove the tag") from None
        raise CurateError(f"config {path} is not valid YAML ({line}{err.problem})",
                          "fix the syntax") from None
    except yaml.YAMLError as err:
        raise CurateError(f"config {path} is not valid YAML ({err.__class__.__name__})",
                          "fix the syntax") from None
    except RecursionError:
        raise CurateError(f"config {path} nests too deep", "flatten its lists and mappings"
                          ) from None
    finally:
        loader.dispose()


MERGE_TAG = "tag:yaml.org,2002:merge"


def _refuse_duplicate_keys(root: yaml.Node, path: Path) -> None:
    """YAML keeps the last of two equal keys silently, so a second `select:` section would
    replace the first unseen. Walks each node once (aliases share nodes)."""
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    while stack:
        node, where = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(node.value))
        if not isinstance(node, yaml.MappingNode):
            continue
        lines: dict[tuple[str, str], int] = {}
        for key, value in node.value:
            if key.tag == MERGE_TAG:  # `<<: *base`: later keys override the base, by design
                stack.append((value, where))
                continue
            name = f"{where}.{key.value}" if where else str(key.value)
            line = key.start_mark.line + 1
            if isinstance(key, yaml.ScalarNode) and (key.tag, key.value) in lines:
                raise CurateError(f"config {path}: key '{name}' appears twice (lines "
                                  f"{lines[key.tag, key.value]} and {line})",
                                  "keep one of them (YAML would silently keep the last)")
            if isinstance(key, yaml.ScalarNode):
                lines[key.tag, key.value] = line
            stack.append((value, name))


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


ALLOW_CODE_ENV = "CURATE_ALLOW_CODE"
# setting -> the entry-point group where an installed component is found by name instead
_CODE_SETTINGS = {"select.selector": "curate.selectors", "synth.generator": "curate.generators",
                  "bench.selectors": "curate.selectors"}


def code_settings(raw: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(setting, value, entry-point group) of every `package.module:Class` in the config:
    each names a module that would be imported, its top-level code run."""
    found = []
    for setting, group in _CODE_SETTINGS.items():
        section, key = setting.split(".")
        values = raw.get(section, {}).get(key) if isinstance(raw.get(section), dict) else None
        named = [(setting, values)] if not isinstance(values, list) else [
            (f"{setting}[{i}]", value) for i, value in enumerate(values)]
        # a bench spec may carry parameters: `my_rules:Mine[k=3]`
        found += [(where, value, group) for where, value in named
                  if isinstance(value, str) and ":" in value.split("[")[0]]
    return found


def require_code_opt_in(raw: dict[str, Any], source: str, allow_code: bool = False) -> None:
    """Refuse a config that names code unless the user allowed it (`allow_code`, the CLI's
    --allow-code, or CURATE_ALLOW_CODE=1): configs travel (deployments, `curate serve`,
    a colleague's file), and reading one must not run whatever module it names."""
    found = code_settings(raw)
    if found and not (allow_code or os.environ.get(ALLOW_CODE_ENV) == "1"):
        setting, value, group = found[0]
        raise CurateError(
            f"{setting} '{value}' in {source} names Python code, which curate would import "
            "and run", f"if you trust it, pass --allow-code (or set {ALLOW_CODE_ENV}=1; in "
            f"Python, allow_code=True), or install it as a '{group}' entry point and use "
            "its name")
