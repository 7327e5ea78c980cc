"""curate.select: the README's notebook example, and the same ids as `curate select`."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

import curate
from curate.cli import app
from curate.config import DataConfig
from curate.data import load_pool
from curate.errors import CurateError

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    text = README.read_text()
    block = re.search(r"<!-- readme-python[^>]*-->\n```python\n(.*?)```", text, re.S)
    assert block, "README lost its readme-python block"
    return block.group(1)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    """A notebook's folder: the working directory, with the user cache beside it."""
    folder = tmp_path / "notebook"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return folder


@pytest.mark.slow  # embeds 300 glosses with MiniLM (about 10 s on 2 CPU cores)
def test_readme_example_runs_on_a_dataset_and_a_polars_frame(in_tmp, glosses):
    glosses.drop("id").write_parquet(in_tmp / "pool.parquet")
    code = readme_example()
    as_dataset: dict = {}
    exec(code, as_dataset)
    result = as_dataset["result"]
    assert len(result.ids) == 30 and result.report_path.exists()
    assert sorted(p.name for p in in_tmp.iterdir()) == ["pool.parquet"]  # no runs/, no cache
    assert type(result.subset).__name__ == "Dataset"
    assert "curate_reason" in result.subset.column_names
    polars_code = code.replace('datasets.Dataset.from_parquet("pool.parquet")',
                               'pl.read_parquet("pool.parquet")')
    assert polars_code != code
    as_polars: dict = {"pl": pl}
    exec(polars_code, as_polars)
    again = as_polars["result"]
    assert isinstance(again.subset, pl.DataFrame)
    assert again.ids == result.ids
    assert again.subset["curate_reason"].null_count() == 0


@pytest.fixture(scope="module")
def digits() -> pl.DataFrame:
    """builtin:digits as a user frame: pixels as a vector column, a label, no ids."""
    return load_pool(DataConfig(source="builtin:digits")).frame.drop("id")


SETTINGS = {"cluster": {"k": 16, "niter": 10, "nredo": 1}}


@pytest.mark.parametrize("select", [
    {"selector": "kmq", "budget": 40, "stratify": False},  # whole-pool clusters
    {"selector": "auto", "budget": "3 per label"},
])
def test_same_ids_as_curate_select_with_the_equivalent_yaml(tmp_path, digits, select):
    digits.write_parquet(tmp_path / "pool.parquet")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"path": "pool.parquet", "vector_column": "pixels", "label_column": "label"},
        "select": select, **SETTINGS,
        "output": {"dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cli-cache")}}))
    cli = CliRunner().invoke(app, ["select", str(config)])
    assert cli.exit_code == 0, cli.output
    run_dir = Path(cli.stdout.strip().splitlines()[-1])
    cli_ids = pl.read_parquet(run_dir / "selection.parquet")["id"].to_list()

    params = {k: v for k, v in select.items() if k not in ("selector", "budget")}
    result = curate.select(digits, select["budget"], select["selector"],
                           vectors="pixels", label="label", seed=0,
                           config={**SETTINGS, "select": params},
                           out=tmp_path / "api-runs", cache_dir=tmp_path / "api-cache")
    assert result.ids == cli_ids
    assert result.subset["id"].to_list() == cli_ids  # in selection order
    assert result.subset["curate_reason"].null_count() == 0
    if select["selector"] == "kmq":  # the clusters came from the cluster stage, k = 16
        assert result.manifest["stages"]["cluster"]["cache_hit"] is False
        assert result.selection["cluster"].n_unique() > 1


def test_list_of_dicts_and_precomputed_embeddings(tmp_path):
    rng = np.random.default_rng(0)
    rows = [{"name": f"row {i}", "label": "ab"[i % 2]} for i in range(60)]
    vectors = rng.normal(size=(60, 8))
    result = curate.select(rows, 10, "random", label="label", embeddings=vectors,
                           out=tmp_path / "runs", cache_dir=tmp_path / "cache")
    assert isinstance(result.subset, list) and len(result.subset) == 10
    assert {"name", "label", "curate_reason"} <= set(result.subset[0])
    # the vectors were curate's input, not a column of the user's: they stay out of the subset
    assert not any(isinstance(value, list) for value in result.subset[0].values())
    assert "embedding" not in result.subset[0]


def test_pandas_in_pandas_out(tmp_path, digits):
    frame = digits.head(200).to_pandas()
    result = curate.select(frame, 20, "random", vectors="pixels", label="label",
                           out=tmp_path / "runs", cache_dir=tmp_path / "cache")
    assert type(result.subset).__name__ == "DataFrame" and len(result.subset) == 20
    assert result.subset["curate_reason"].notna().all()


def test_unreadable_input_is_a_curate_error():
    with pytest.raises(CurateError, match="cannot read"):
        curate.select(object(), 10)


def test_auto_takes_random_on_a_prompt_response_pool(tmp_path, chat_rows):
    """benchmarks/selection-sft.md: no selector beat random on held-out response loss, so
    auto's instruction-pool rule takes random for prompt/response rows and says why."""
    prompts, responses = chat_rows
    rows = [{"prompt": p, "response": r, "label": "ab"[i % 2]}
            for i, (p, r) in enumerate(zip(prompts[:80], responses[:80], strict=True))]
    result = curate.select(rows, 10, prompt="prompt", response="response", label="label",
                           out=tmp_path / "runs", cache_dir=tmp_path / "cache")
    choice = result.manifest["choice"]
    assert choice["selector"] == "random"
    assert choice["reason"].startswith("rule instruction-pool (benchmarks/selection-sft.md#")
    assert all(r.startswith("auto chose random by rule instruction-pool") for r in
               result.selection["reason"])


def vector_rows(n: int = 60, seed: int = 0) -> tuple[list[dict], np.ndarray]:
    rng = np.random.default_rng(seed)
    return [{"name": f"row {i}", "label": "ab"[i % 2]} for i in range(n)], \
        rng.normal(size=(n, 8))


def test_a_bad_column_is_named_by_its_argument(tmp_path):
    rows, vectors = vector_rows()
    with pytest.raises(CurateError) as err:
        curate.select(pl.DataFrame(rows), 10, "random", text="txt", out=tmp_path / "runs",
                      cache_dir=tmp_path / "cache")
    assert str(err.value) == "text='txt': no such column; columns: name, label"
    with pytest.raises(CurateError, match=r"^label='lab': no such column; columns: name, "):
        curate.select(rows, 10, "random", label="lab", embeddings=vectors,
                      out=tmp_path / "runs", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "runs").exists()  # refused before anything is written


def test_an_error_from_the_run_names_data_not_the_cache_file(tmp_path):
    """No content column to guess: the load stage's error, in the caller's words."""
    with pytest.raises(CurateError) as err:
        curate.select([{"n": i, "label": "ab"[i % 2]} for i in range(20)], 5, "random",
                      out=tmp_path / "runs", cache_dir=tmp_path / "cache")
    message = str(err.value)
    assert message.startswith("no content column set for data; set text= (or ")
    assert str(tmp_path / "cache") not in message and "data.text_column" not in message


def test_runs_and_cache_go_to_the_user_cache_by_default(in_tmp):
    rows, vectors = vector_rows()
    result = curate.select(rows, 10, "random", label="label", embeddings=vectors)
    xdg = in_tmp.parent / "xdg" / "curate"
    assert result.run_dir.is_relative_to(xdg / "runs" / "select")
    assert (xdg / "cache").is_dir()
    assert list(in_tmp.iterdir()) == []  # the notebook's folder: no runs/, no .curate-cache/


def test_config_output_folders_are_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    rows, vectors = vector_rows()
    result = curate.select(rows, 10, "random", label="label", embeddings=vectors,
                           config={"output": {"dir": str(tmp_path / "mine"),
                                              "cache_dir": str(tmp_path / "my-cache")}})
    assert result.run_dir.is_relative_to(tmp_path / "mine")
    assert (tmp_path / "my-cache").is_dir() and not (tmp_path / "xdg").exists()


def test_mask_is_aligned_with_the_input_rows(tmp_path, digits):
    frame = digits.head(300).sample(fraction=1.0, shuffle=True, seed=3)  # not in id order
    result = curate.select(frame, 30, "random", vectors="pixels", label="label",
                           out=tmp_path / "runs", cache_dir=tmp_path / "cache")
    assert result.mask.dtype == bool and result.mask.shape == (300,)
    assert int(result.mask.sum()) == 30
    chosen = frame.filter(pl.Series(result.mask))
    assert chosen.sort("pixels").equals(result.subset.drop("id", "curate_reason")
                                        .sort("pixels"))


def test_pandas_index_is_kept_in_the_subset(tmp_path, digits):
    frame = digits.head(200).to_pandas()
    frame.index = [f"r{i}" for i in range(1000, 1200)]
    result = curate.select(frame, 20, "random", vectors="pixels", label="label",
                           out=tmp_path / "runs", cache_dir=tmp_path / "cache")
    expected = frame.index[result.mask]
    assert sorted(result.subset.index) == sorted(expected)
    for name in result.subset.index:  # each row under its own label
        assert result.subset.loc[name, "label"] == frame.loc[name, "label"]


def test_notebook_summary(tmp_path):
    rows, vectors = vector_rows()
    result = curate.select(rows, 10, "auto", label="label", embeddings=vectors,
                           out=tmp_path / "runs", cache_dir=tmp_path / "cache")
    page = result._repr_html_()
    assert "auto -&gt; " in page and result.manifest["choice"]["reason"][:30] in page
    assert "10 rows" in page
    assert f"href='{result.report_path.resolve().as_uri()}'" in page
    if funnel := result.manifest.get("funnel"):
        assert html.escape(funnel["line"]) in page


def test_a_classifier_hand_off_keeps_the_classifier_rules_on_prompt_response_rows(
        tmp_path, chat_rows):
    """The instruction-pool rule is for LM fine-tunes: with `train.mode: classifier` the
    same rows are a labelled few-shot pool (and the bench's probe evaluator sees them so)."""
    from curate.bench.protocol import prepare
    from curate.config import Config
    from curate.store import ArtifactCache

    prompts, responses = chat_rows
    rows = [{"prompt": p, "response": r, "label": "ab"[i % 2]}
            for i, (p, r) in enumerate(zip(prompts[:80], responses[:80], strict=True))]
    result = curate.select(rows, 10, prompt="prompt", response="response", label="label",
                           out=tmp_path / "runs", cache_dir=tmp_path / "cache",
                           config={"train": {"mode": "classifier"}})
    assert result.manifest["choice"]["reason"].startswith("rule few-shot")
    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    cfg = {"data": {"path": str(path), "prompt_column": "prompt",
                    "response_column": "response", "label_column": "label"}}
    cache = ArtifactCache(tmp_path / "cache")
    assert not prepare(Config.model_validate({**cfg, "bench": {"evaluator": "probe"}}),
                       cache).view.instruction
