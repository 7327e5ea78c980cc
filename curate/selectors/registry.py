"""Selectors by name. A selector module registers itself with `@register`; every module in
this package is imported on first lookup, so a new selector is one new file."""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import inspect
import pkgutil

from curate.errors import CurateError
from curate.selectors.base import Selector

_REGISTRY: dict[str, type[Selector]] = {}


def register(cls: type[Selector]) -> type[Selector]:
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"selector name '{cls.name}' registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def _discover() -> None:
    import curate.selectors as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in ("base", "registry"):
            importlib.import_module(f"{package.__name__}.{module.name}")
    # Outside packages: [project.entry-points."curate.selectors"] name = "pkg.module:Class"
    for entry in importlib.metadata.entry_points(group="curate.selectors"):
        cls = entry.load()
        if _REGISTRY.get(cls.name) is not cls:
            register(cls)


def available() -> dict[str, type[Selector]]:
    _discover()
    return dict(sorted(_REGISTRY.items()))


def make_selector(name: str, params: dict | None = None) -> Selector:
    """Build a registered selector; unknown names and parameters are CurateErrors."""
    selectors = available()
    if name not in selectors:
        close = difflib.get_close_matches(name, selectors, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise CurateError(f"unknown selector '{name}'",
                          f"{hint}valid selectors: {', '.join(selectors)}")
    cls = selectors[name]
    valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for key in params or {}:
        if key not in valid:
            raise CurateError(f"selector '{name}' has no parameter '{key}'",
                              f"valid parameters: {', '.join(valid) or 'none'}")
    return cls(**(params or {}))
