"""Config faults: every one is a one-line error naming the fix, exit 2, and nothing written."""

import pytest

from .helpers import assert_one_line_error, invoke, write_config


@pytest.mark.parametrize("name", ["../../x", "a/b", "..", "a\\b", "."])
def test_run_name_cannot_leave_the_output_dir(tmp_path, name):
    code, _, err = invoke("select", write_config(tmp_path, run={"name": name}))
    assert_one_line_error(code, err, "run.name", "plain folder name")
    assert not (tmp_path / "runs").exists()
    assert not any(p.name == "x" for p in tmp_path.parent.iterdir())


def billion_laughs() -> str:
    """Nine levels of nine aliases: under 700 bytes, 9**9 strings once expanded."""
    levels = ['&l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    levels += [f"&l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    return ("data:\n  source: builtin:digits\nselect:\n  selector: kmq\n  params:\n"
            f"    quality: [{', '.join(levels)}]\n")


def test_yaml_alias_bomb_is_refused_quickly(tmp_path):
    import time

    config = tmp_path / "bomb.yaml"
    config.write_text(billion_laughs())
    started = time.perf_counter()
    code, _, err = invoke("select", config)
    assert time.perf_counter() - started < 10
    assert_one_line_error(code, err, str(config), "aliases")


def test_a_few_aliases_are_fine(tmp_path):
    config = tmp_path / "anchors.yaml"
    config.write_text("run: &r {seed: 3}\nselect: {selector: random, budget: 5}\n"
                      "data: {source: builtin:digits}\n"
                      f"output: {{dir: {tmp_path / 'runs'}, cache_dir: {tmp_path / 'c'}}}\n"
                      "bench: {seeds: 1}\n")
    from curate.config_load import load_config

    assert load_config(config).run.seed == 3


def test_a_non_utf8_config(tmp_path):
    config = tmp_path / "latin1.yaml"
    config.write_bytes("data:\n  source: builtin:digits\n# caf\xe9\n".encode("latin-1"))
    code, _, err = invoke("select", config)
    assert_one_line_error(code, err, str(config), "UTF-8")


def test_a_folder_given_as_config(tmp_path):
    """`curate select FOLDER` reads a folder as a pool (CONFIG|DATA); an empty one is named
    as such, not blamed on the network."""
    code, _, err = invoke("select", tmp_path)
    assert_one_line_error(code, err, str(tmp_path), "is a folder with no data", "YAML config")
    assert "not found" not in err and "network" not in err


@pytest.mark.parametrize("budget", ["true", "yes", "on", "false", ".inf", "-.inf", ".nan",
                                    "'inf'", "'nan'", "'inf%'", "[1, 2]"])
def test_a_budget_that_is_no_number_is_one_line(tmp_path, budget):
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("budget: 12", f"budget: {budget}"))
    code, _, err = invoke("select", config)
    assert_one_line_error(code, err, "budget")
    assert "budget.str" not in err and "budget.int" not in err
    assert not (tmp_path / "runs").exists()
