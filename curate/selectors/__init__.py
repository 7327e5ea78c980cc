"""Selectors: one file each, one shared interface (`base.Selector`), one registry."""

from curate.selectors.base import Picks, SelectionView, Selector
from curate.selectors.registry import available, make_selector, register

__all__ = ["Picks", "SelectionView", "Selector", "available", "make_selector", "register"]
