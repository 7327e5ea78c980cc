"""Selectors by name: `curate.registry.Registry` over this package. A selector module
registers itself with `@register`; every module in this package is imported on first
lookup, so a new selector is one new file. Outside selectors come from the entry-point
group `curate.selectors`, or by dotted path (`package.module:Class`) without being
installed at all (from a config only with --allow-code, see `curate.registry`).
`make_selector` checks parameter names and values (each selector's `parameter_constraints`)
before any data is read."""

from __future__ import annotations

from curate.registry import Registry, code_fingerprint
from curate.selectors.base import Selector

REGISTRY: Registry[Selector] = Registry(
    "selector", Selector, package="curate.selectors", entry_point_group="curate.selectors",
    setting="select.params", contract="pick(view, n, rng) or plan(pool, group, n, seed, rng)")
_REGISTRY = REGISTRY.entries  # name -> class; tests remove the selectors they register

register = REGISTRY.register
available = REGISTRY.available
selector_class = REGISTRY.lookup
load_selector_class = REGISTRY.load_class
make_selector = REGISTRY.make

__all__ = ["REGISTRY", "available", "code_fingerprint", "load_selector_class",
           "make_selector", "register", "selector_class"]
