"""LM scores in the select stage: computed when a selector's parameters name one."""

import numpy as np
import polars as pl

from curate.scoring.lm_scores import LM_SCORES
from tests.test_cli import invoke, run_folders, write_config


def test_longest_on_prompt_response_rows_gets_response_tokens_from_the_lm(tmp_path, tiny_lm,
                                                                         chat_rows):
    path = tmp_path / "chat.parquet"
    prompts, responses = chat_rows
    pl.DataFrame({"prompt": prompts, "response": responses}).write_parquet(path)
    config = write_config(tmp_path, {"path": str(path)},
                          select={"selector": "longest", "budget": 12},
                          scoring={"lm_model": tiny_lm, "lm_max_length": 64})
    code, _, err = invoke("select", config)
    assert code == 0, err
    run_dir = run_folders(tmp_path)[0]
    scores = pl.read_parquet(run_dir / "scores.parquet")
    assert scores.columns == ["id", *LM_SCORES] and scores.height == len(prompts)
    assert scores["ifd"].is_finite().all() and (scores["lm_loss"] > 0).all()
    chosen = pl.read_parquet(run_dir / "selection.parquet").join(scores, on="id")
    assert chosen["response_tokens"].min() >= np.sort(scores["response_tokens"])[-12]
    from curate.report.artifacts import load_artifacts
    from curate.report.plots import score_plot

    art = load_artifacts(run_dir)  # what the report's score histograms read
    assert set(LM_SCORES) <= set(art.scores.columns) and score_plot(art)


def test_lm_scores_on_a_text_pool_are_a_one_line_error(tmp_path, glosses_jsonl):
    config = write_config(tmp_path, {"path": str(glosses_jsonl), "text_column": "gloss"},
                          select={"selector": "kmq", "budget": 10,
                                  "params": {"quality": "ifd"}})
    code, _, err = invoke("select", config)
    assert code == 2
    assert "need prompt/response rows" in err and "data.prompt_column" in err


def test_which_lm_scores_the_stage_computes():
    from curate.config import Config
    from curate.stages.scores import lm_scores_wanted

    def wanted(**sections):
        return lm_scores_wanted(Config.model_validate({"data": {"source": "x.parquet"},
                                                       **sections}))

    assert wanted(select={"selector": "random"}) == []
    assert wanted(select={"selector": "kmq", "params": {"quality": "ifd"}}) == ["ifd"]
    assert wanted(select={"selector": "longest"}) == ["response_tokens"]  # its default
    assert wanted(select={"selector": "deita", "params": {"quality": "lm_loss"}}) == ["lm_loss"]
    assert wanted(select={"selector": "random"}, scoring={"lm_scores": True}) == list(LM_SCORES)
