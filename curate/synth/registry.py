"""Generators by name: `curate.registry.Registry` over this package, as for selectors. A
generator module registers its class with `@register`; every module in this package is
imported on first lookup (they import torch, transformers and diffusers only inside the
methods that use them, so a run without synthesis never pays for those). Outside generators
come from the entry-point group `curate.generators`, or by dotted path
(`package.module:Class`). `make_generator` checks parameter names and values (each
generator's `parameter_constraints`) before any data is read."""

from __future__ import annotations

from curate.registry import Registry
from curate.synth.base import Generator

REGISTRY: Registry[Generator] = Registry(
    "generator", Generator, package="curate.synth", entry_point_group="curate.generators",
    setting="synth.params", contract="_fit and _generate")
# name -> class, filled on first lookup; a "package.module:Class" value is loaded when used
GENERATORS = REGISTRY.entries

register = REGISTRY.register
available = REGISTRY.available
generator_class = REGISTRY.lookup
load_generator_class = REGISTRY.load_class
make_generator = REGISTRY.make

__all__ = ["GENERATORS", "REGISTRY", "available", "generator_class", "load_generator_class",
           "make_generator", "register"]
