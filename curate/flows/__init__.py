"""Prefect flows: wiring of the stages in `curate.run`, no logic of their own."""
