"""`curate bench --synth`: the augmented arms beside the plain selection."""

import polars as pl
import yaml
from typer.testing import CliRunner

from curate.cli import app


def invoke(*args):
    result = CliRunner().invoke(app, list(map(str, args)))
    return result.exit_code, result.stdout, result.stderr


def test_bench_synth_adds_filtered_and_unfiltered_arms(tmp_path):
    config = tmp_path / "bench.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"source": "builtin:digits", "sample": 400},
        "synth": {"params": {"steps": 20, "refine_steps": 5, "hidden": 16,
                             "discriminators": 2}},
        "output": {"cache_dir": str(tmp_path / "cache")}}))
    code, out, err = invoke("bench", config, "--selectors", "random", "--budgets",
                            "3-per-label", "--seeds", "2", "--synth", "2-per-label",
                            "--out", tmp_path / "out")
    assert code == 0, err
    results = pl.read_parquet(tmp_path / "out" / "results.parquet").filter(
        pl.col("metric") == "accuracy")
    arms = results.group_by("selector").agg(pl.col("rows").unique(), pl.len()).sort("selector")
    assert arms["selector"].to_list() == ["full", "random", "random+mh-gan",
                                          "random+mh-gan:unfiltered"]
    assert arms["rows"].to_list()[1:] == [[30], [50], [50]]  # 3 real + 2 synthetic per label
    assert results["error"].is_null().all()
    assert "| random+mh-gan | 3-per-label | 50 |" in out


def test_bench_synth_needs_a_per_label_count(tmp_path):
    code, _, err = invoke("bench", "--data", "builtin:digits", "--synth", "lots",
                          "--out", tmp_path / "o")
    assert code == 2 and "cannot read --synth 'lots'" in err
