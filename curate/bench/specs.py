"""Selectors in a bench grid by spec: a registered name, optionally with parameters in
brackets (`kmq[quality=ifd]`, `deita[threshold=0.85,quality=lm_loss]`), so one grid can
compare a selector under several settings. The spec is the selector's name in the results."""

from __future__ import annotations

import re

import yaml

from curate.errors import CurateError
from curate.selectors import make_selector
from curate.selectors.base import Selector

SPEC = re.compile(r"^\s*([^\[\]\s]+)\s*(?:\[(.*)\])?\s*$")


def split_specs(text: str) -> list[str]:
    """`a,kmq[quality=ifd,temperature=0.5],b` -> the three specs (commas inside brackets
    separate parameters, not specs)."""
    specs, depth, current = [], 0, ""
    for char in text:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            specs.append(current)
            current = ""
        else:
            current += char
    return [s.strip() for s in [*specs, current] if s.strip()]


def parse_spec(spec: str) -> tuple[str, dict]:
    """(selector name, parameters) of a spec; values read as YAML scalars (0.5, true, ifd)."""
    match = SPEC.match(spec)
    if not match:
        raise CurateError(f"cannot read selector spec '{spec}'",
                          "write NAME or NAME[param=value,...], e.g. kmq[quality=ifd]")
    params = {}
    for item in split_specs(match.group(2) or ""):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CurateError(f"selector spec '{spec}': '{item}' is not param=value",
                              "write NAME[param=value,...]")
        params[key.strip()] = yaml.safe_load(value.strip())
    return match.group(1), params


def make_selectors(specs: list[str]) -> dict[str, Selector]:
    """Every spec's selector, built (and its parameters checked) before any work."""
    return {spec: make_selector(*parse_spec(spec)) for spec in specs}
