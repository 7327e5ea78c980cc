"""Generators by name. Unlike selectors, generators are listed here as import paths rather
than discovered by importing every module: their modules pull in torch, transformers or
diffusers, which a run without synthesis should never pay for."""

from __future__ import annotations

import difflib
import importlib
import inspect

from curate.errors import CurateError
from curate.synth.base import Generator

GENERATORS = {
    "mh-gan": "curate.synth.gan:MhGanGenerator",
    "bob-text": "curate.synth.bob:BobTextGenerator",
    "bob-diffusion": "curate.synth.diffusion:BobDiffusionGenerator",
}


def generator_class(name: str) -> type[Generator]:
    if name not in GENERATORS:
        close = difflib.get_close_matches(name, GENERATORS, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise CurateError(f"unknown generator '{name}'",
                          f"{hint}valid generators: {', '.join(GENERATORS)}")
    module, cls = GENERATORS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def make_generator(name: str, params: dict | None = None) -> Generator:
    """Build a registered generator; unknown names and parameters are CurateErrors."""
    cls = generator_class(name)
    valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for key in params or {}:
        if key not in valid:
            raise CurateError(f"generator '{name}' has no parameter '{key}'",
                              f"valid parameters: {', '.join(valid) or 'none'}")
    return cls(**(params or {}))
