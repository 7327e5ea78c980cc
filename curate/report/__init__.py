"""Plots and reports of a run."""

from curate.report.projection import projection_points, write_projection

__all__ = ["projection_points", "write_projection"]
