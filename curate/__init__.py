"""curate: choose the subset of a data pool that fine-tunes best."""

__version__ = "0.1.0"
