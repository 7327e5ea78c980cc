from pathlib import Path

import pytest

from curate.config_load import load_config, parse_config
from curate.errors import CurateError


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_minimal_config_has_defaults(tmp_path):
    cfg = load_config(write(tmp_path, "data:\n  source: builtin:digits\n"))
    assert cfg.select.selector == "auto" and cfg.select.stratify == "auto"
    assert cfg.embed.model == "builtin:minilm"
    assert cfg.cluster.niter == 300 and cfg.cluster.nredo == 5  # official D&C values


def test_top_level_typo_names_closest_key(tmp_path):
    with pytest.raises(CurateError, match=r"unknown config key 'selct'.*did you mean 'select'"):
        load_config(write(tmp_path, "data:\n  source: builtin:digits\nselct: {}\n"))


def test_nested_typo_names_closest_key(tmp_path):
    text = "data:\n  source: builtin:digits\n  text_colum: gloss\n"
    with pytest.raises(CurateError, match=r"'data.text_colum'.*did you mean 'text_column'"):
        load_config(write(tmp_path, text))


def test_wrong_type_names_the_key():
    with pytest.raises(CurateError, match=r"cluster.k"):
        parse_config({"data": {"source": "builtin:digits"}, "cluster": {"k": "many"}})


def test_data_needs_exactly_one_origin():
    with pytest.raises(CurateError, match=r"exactly one of data.path"):
        parse_config({"data": {"source": "builtin:digits", "path": "x.jsonl"}})
    with pytest.raises(CurateError, match="'data' is required"):
        parse_config({})


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(CurateError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(CurateError, match="not valid YAML"):
        load_config(write(tmp_path, "data: [unclosed\n"))
    with pytest.raises(CurateError, match="must be a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))


def test_allow_smaller_override(tmp_path):
    cfg = load_config(write(tmp_path, "data:\n  source: builtin:digits\n"), allow_smaller=True)
    assert cfg.select.allow_smaller


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[1] / "configs").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_shipped_configs_are_valid(path):
    cfg = load_config(path)
    assert cfg.data.source.startswith("builtin:")
