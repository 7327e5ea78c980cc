"""`curate bench`: does a selection train better than a random subset of the same size?"""

from curate.bench.protocol import run_benchmark

__all__ = ["run_benchmark"]
