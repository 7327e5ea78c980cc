"""bench.probe_embed: selection on one embedding, the probe on another (issue 15)."""

import polars as pl
from typer.testing import CliRunner

from curate.cli import app


def _bench(tmp_path, glosses, name: str, embed: str, probe: str) -> pl.DataFrame:
    path = tmp_path / "pool.jsonl"
    glosses.write_ndjson(path)
    config = tmp_path / f"{name}.yaml"
    config.write_text(f"data:\n  path: {path}\nembed:\n{embed}cluster:\n  k: 8\n  niter: 10\n"
                      f"  nredo: 1\noutput:\n  cache_dir: {tmp_path / 'cache'}\n"
                      f"bench:\n  ceiling: false\n{probe}")
    result = CliRunner().invoke(app, ["bench", str(config), "--selectors", "random,kmq",
                                      "--budgets", "3 per label", "--seeds", "2", "--out",
                                      str(tmp_path / name)])
    assert result.exit_code == 0, result.stderr
    return pl.read_parquet(tmp_path / name / "results.parquet").sort("selector", "seed",
                                                                      "metric")


def test_probe_embed_scores_every_selection_on_the_same_embeddings(tmp_path, glosses):
    probe = "  probe_embed:\n    precision: fp32\n"
    fp32 = _bench(tmp_path, glosses, "fp32", "  precision: fp32\n", probe)
    static = _bench(tmp_path, glosses, "static", "  model: builtin:minilm-static\n", probe)
    alone = _bench(tmp_path, glosses, "alone", "  model: builtin:minilm-static\n", "")
    random = pl.col("selector") == "random"
    # random ignores embeddings: with one probe its scores are equal whatever selected
    assert fp32.filter(random)["value"].to_list() == static.filter(random)["value"].to_list()
    # without probe_embed the probe runs on the static vectors themselves
    assert alone.filter(random)["value"].to_list() != static.filter(random)["value"].to_list()
