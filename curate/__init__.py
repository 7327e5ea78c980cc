"""curate: choose the subset of a data pool that fine-tunes best.

`curate.select(data, budget, ...)` runs the curation stages on a DataFrame or a
`datasets.Dataset` (see `curate.api`); the `curate` command runs them from a YAML config.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["SelectResult", "__version__", "select"]


def __getattr__(name: str) -> Any:
    # Imported on first use: `import curate` (and the CLI's start-up) stays light.
    if name in ("select", "SelectResult"):
        from curate import api

        return getattr(api, name)
    raise AttributeError(f"module 'curate' has no attribute {name!r}")
