"""Data sources -> Pool."""

from curate.data.builtin import BUILTINS
from curate.data.pool import Pool, Schema
from curate.data.sources import load_pool

__all__ = ["BUILTINS", "Pool", "Schema", "load_pool"]
