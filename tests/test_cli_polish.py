"""Discoverability and logs: --version, selectors, flags, config errors, relative paths,
entry-point selectors, plain progress lines off a terminal, --quiet/--verbose, run.log."""

from __future__ import annotations

import logging
import re
import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

import curate
from curate.cli import app
from curate.config_load import load_config
from curate.errors import CurateError
from curate.progress import PlainProgress, capture_log

runner = CliRunner()


def digits_config(folder: Path, **select) -> Path:
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump({
        "data": {"source": "builtin:digits"},
        "cluster": {"k": 8, "niter": 5, "nredo": 1},
        "select": {"selector": "random", "budget": 20, **select},
        "output": {"dir": str(folder / "runs"), "cache_dir": str(folder / "cache")}}))
    return path


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"curate {curate.__version__}"


def test_flags_are_shown_without_a_value_type():
    result = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "120"})
    assert "--refresh" in result.stdout and "<bool>" not in result.stdout
    assert "<path>" in result.stdout  # options that take a value keep theirs


def test_selectors_lists_names_parameters_and_one_line_docs():
    result = runner.invoke(app, ["selectors"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in ("auto", "kmq", "random", "typiclust"):
        assert re.search(rf"│ {re.escape(name)}\s", result.stdout), name
    assert "Draw the budget uniformly without replacement." in result.stdout
    assert "temperature=1.0" in result.stdout


def test_every_config_error_is_reported_at_once(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"data": {"source": "builtin:digits", "texxt_column": "x"},
                                    "cluster": {"k": 0}, "select": {"budget": True}}))
    result = runner.invoke(app, ["select", str(path)])
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "3 config errors" in message
    for part in ("data.texxt_column", "cluster.k", "select.budget"):
        assert part in message


def test_relative_data_path_resolves_against_the_config_folder(tmp_path, monkeypatch):
    (tmp_path / "configs").mkdir()
    (tmp_path / "data").mkdir()
    config = tmp_path / "configs" / "c.yaml"
    config.write_text("data:\n  path: ../data/pool.jsonl\ntarget:\n  path: t.jsonl\n")
    monkeypatch.chdir(tmp_path / "data")  # anywhere else
    cfg = load_config(config)
    assert Path(cfg.data.path).resolve() == (tmp_path / "data" / "pool.jsonl").resolve()
    assert Path(cfg.target.path).resolve() == (tmp_path / "configs" / "t.jsonl").resolve()
    absolute = tmp_path / "abs.yaml"
    absolute.write_text(f"data:\n  path: {tmp_path / 'x.jsonl'}\n")
    assert load_config(absolute).data.path == tmp_path / "x.jsonl"


@pytest.fixture
def outside_selector(tmp_path, monkeypatch):
    """An installed distribution that declares a selector in the curate.selectors group."""
    site = tmp_path / "site"
    (site / "first_rows_pkg-0.1.dist-info").mkdir(parents=True)
    (site / "first_rows_pkg-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: first-rows-pkg\nVersion: 0.1\n")
    (site / "first_rows_pkg-0.1.dist-info" / "entry_points.txt").write_text(
        "[curate.selectors]\nfirst-rows = first_rows_pkg:FirstRows\n")
    (site / "first_rows_pkg.py").write_text(textwrap.dedent('''
        import numpy as np
        from curate.selectors.base import Picks, Selector

        class FirstRows(Selector):
            """The first rows in id order (a test selector from outside curate)."""
            name = "first-rows"

            def __init__(self):
                pass

            def pick(self, view, n, rng):
                return Picks(rows=np.arange(n), scores=np.zeros(n), reasons=["first"] * n)
    '''))
    monkeypatch.syspath_prepend(str(site))
    yield "first-rows"
    from curate.selectors import registry

    registry._REGISTRY.pop("first-rows", None)


def test_selectors_from_the_entry_point_group(tmp_path, outside_selector):
    from curate.selectors import make_selector

    assert make_selector(outside_selector).name == "first-rows"
    listed = runner.invoke(app, ["selectors"], env={"COLUMNS": "200"})
    assert "first-rows" in listed.stdout and "a test selector from outside" in listed.stdout
    result = runner.invoke(app, ["select", str(digits_config(tmp_path, selector="first-rows"))])
    assert result.exit_code == 0, result.output


def test_plain_progress_lines_each_tenth_or_thirty_seconds(caplog):
    now = [0.0]
    with caplog.at_level(logging.INFO, logger="curate"):
        advance = PlainProgress("embed pool", 1000, clock=lambda: now[0])
        for _ in range(100):
            advance(10)  # 10 rows a step: a line at each 10%
        assert sum("embed pool:" in r.message and "%" in r.message
                   for r in caplog.records) == 10
        caplog.clear()
        slow = PlainProgress("slow", 10_000, clock=lambda: now[0])
        for _ in range(3):
            now[0] += 31
            slow(1)  # far below 10%, but 30 s went by
        assert len([r for r in caplog.records if "%" in r.message]) == 3
    assert "about" in caplog.records[-1].message


def test_off_a_terminal_progress_lines_reach_stderr_and_run_log(tmp_path, monkeypatch):
    monkeypatch.setenv("CURATE_PROGRESS", "1")
    result = runner.invoke(app, ["select", str(digits_config(tmp_path))])
    assert result.exit_code == 0, result.output
    assert re.search(r"embed builtin:digits: 100% \(1,797/1,797 rows\)", result.stderr)
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    log = (run_dir / "run.log").read_text()
    assert "embed builtin:digits: 100%" in log and "stage select:" in log


def test_quiet_and_verbose(tmp_path, monkeypatch):
    monkeypatch.setenv("CURATE_PROGRESS", "1")
    config = digits_config(tmp_path)
    quiet = runner.invoke(app, ["--quiet", "select", str(config), "--refresh"])
    assert quiet.exit_code == 0 and quiet.stderr.strip() == ""
    assert Path(quiet.stdout.strip()).is_dir()
    monkeypatch.setenv("CURATE_PROGRESS", "1")  # --quiet turned it off for the process
    verbose = runner.invoke(app, ["-v", "select", str(config)])
    assert "stage embed:" in verbose.stderr and "cache hit" in verbose.stderr
    runner.invoke(app, ["select", "--help"])  # back to the default level for other tests


def test_capture_log_collects_debug_lines():
    from curate.progress import log

    with capture_log() as lines:
        log.debug("hello %s", "there")
    assert lines and lines[-1].endswith("DEBUG hello there")


def test_curate_select_unknown_type_is_one_line():
    with pytest.raises(CurateError):
        curate.select(42, 10)


def _run_dir(result) -> Path:
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1])


def test_set_overrides_the_budget_and_selector_params(tmp_path):
    config = digits_config(tmp_path, stratify=False)
    base = _run_dir(runner.invoke(app, ["select", str(config)]))
    assert pl.read_parquet(base / "selection.parquet").height == 20
    changed = _run_dir(runner.invoke(app, ["select", str(config), "--set", "select.budget=7",
                                           "--set", "select.selector=kmq",
                                           "--set", "select.params.temperature=0.5"]))
    selection = pl.read_parquet(changed / "selection.parquet")
    assert selection.height == 7 and set(selection["selector"]) == {"kmq"}
    resolved = yaml.safe_load((changed / "config.yaml").read_text())["select"]
    assert resolved["budget"] == 7 and resolved["params"] == {"temperature": 0.5}


def test_set_values_are_yaml_and_paths_are_relative_to_the_shell(tmp_path, monkeypatch):
    config = digits_config(tmp_path)
    monkeypatch.chdir(tmp_path)
    cfg = load_config(config, overrides=["select.stratify=false", "select.budget=0.05",
                                         "dedup.near=0.9", "target.path=t.jsonl",
                                         "target.labels=[a, b]", "run.name=x=y"])
    assert cfg.select.stratify is False and cfg.select.budget == 0.05
    assert cfg.dedup.near == 0.9 and cfg.target.labels == ["a", "b"]
    # relative to the shell, made absolute: the cache keys hold it
    assert cfg.target.path == tmp_path / "t.jsonl" and cfg.run.name == "x=y"


@pytest.mark.parametrize(("item", "message"), [
    ("select.budgt=20", "unknown config key 'select.budgt'; did you mean 'budget'?"),
    ("selct.budget=20", "unknown config key 'selct'; did you mean 'select'?"),
    ("select.budget=true", "config key 'select.budget'"),
    ("select.budget", "--set 'select.budget' is not KEY=VALUE"),
    ("select.budget.x=1", "'select.budget' is a value, not a section"),
])
def test_set_errors_are_one_line_and_name_the_key(tmp_path, item, message):
    config = digits_config(tmp_path)
    for command in ("select", "run"):  # run checks the config before Prefect starts
        result = runner.invoke(app, [command, str(config), "--set", item])
        assert result.exit_code == 2, result.output
        assert message in " ".join(result.stderr.split())
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_set_reaches_the_prefect_flow(tmp_path):
    import subprocess
    import sys

    config = digits_config(tmp_path, stratify=False)
    result = subprocess.run([sys.executable, "-m", "curate.cli", "run", str(config),
                             "--set", "select.budget=9"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    assert pl.read_parquet(run_dir / "selection.parquet").height == 9
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["select"]["budget"] == 9


CUSTOM_SELECTOR = '''
import numpy as np
from curate.selectors.base import Picks, Selector

class HighestPriority(Selector):
    """The rows with the highest `column` (a test selector loaded by dotted path)."""

    def __init__(self, column="priority", lowest=False):
        self.column = column
        self.lowest = lowest

    def pick(self, view, n, rng):
        values = view.score(self.column)
        rows = np.argsort(values if self.lowest else -values, kind="stable")[:n]
        return Picks(rows=rows, scores=values[rows], reasons=[f"{self.column} rank"] * n)

class NotASelector:
    pass
'''


@pytest.fixture
def dotted_selector(tmp_path, monkeypatch):
    """A module file on sys.path (not installed) with a Selector subclass, and a pool."""
    import sys

    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "my_rules.py").write_text(CUSTOM_SELECTOR)
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    monkeypatch.delitem(sys.modules, "my_rules", raising=False)
    monkeypatch.setenv("CURATE_ALLOW_CODE", "1")  # the config names code: opted in
    rng = np.random.default_rng(0)
    pool = pl.DataFrame({"id": [f"r{i:02d}" for i in range(40)],
                         "vector": rng.normal(size=(40, 4)).tolist(),
                         "priority": rng.permutation(40).astype(float)})
    pool.write_parquet(tmp_path / "pool.parquet")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"path": "pool.parquet", "vector_column": "vector"},
        "select": {"selector": "my_rules:HighestPriority", "budget": 6},
        "output": {"dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache")}}))
    yield config, pool
    monkeypatch.delitem(sys.modules, "my_rules", raising=False)


def test_selector_by_dotted_path_in_a_real_run(dotted_selector):
    config, pool = dotted_selector
    top = pool.sort("priority", descending=True)["id"].to_list()
    selection = pl.read_parquet(_run_dir(runner.invoke(app, ["select", str(config)]))
                                / "selection.parquet")
    assert selection["id"].to_list() == top[:6]
    # The class has no `name`: rows and the manifest name the dotted path.
    assert set(selection["selector"]) == {"my_rules:HighestPriority"}
    assert set(selection["reason"]) == {"priority rank"}
    lowest = pl.read_parquet(_run_dir(runner.invoke(
        app, ["select", str(config), "--set", "select.params.lowest=true"])) / "selection.parquet")
    assert lowest["id"].to_list() == top[::-1][:6]


def test_an_edited_dotted_path_selector_is_not_served_from_the_cache(dotted_selector):
    import sys

    config, pool = dotted_selector
    first = pl.read_parquet(_run_dir(runner.invoke(app, ["select", str(config)]))
                            / "selection.parquet")
    module = Path(sys.modules["my_rules"].__file__)
    module.write_text(CUSTOM_SELECTOR.replace("values if self.lowest else -values",
                                              "-values if self.lowest else values"))
    del sys.modules["my_rules"]  # a new process would import the edited file
    second = pl.read_parquet(_run_dir(runner.invoke(app, ["select", str(config)]))
                             / "selection.parquet")
    assert first["id"].to_list() != second["id"].to_list()
    assert second["id"].to_list() == pool.sort("priority")["id"].to_list()[:6]


def test_python_api_takes_a_dotted_path_selector(dotted_selector, tmp_path):
    _, pool = dotted_selector
    result = curate.select(pool, 5, "my_rules:HighestPriority", vectors="vector",
                           out=tmp_path / "api", cache_dir=tmp_path / "cache", lowest=True)
    assert result.ids == pool.sort("priority")["id"].to_list()[:5]


@pytest.mark.parametrize(("path", "message"), [
    ("no_such_module_x:Sel", "selector 'no_such_module_x:Sel': no module named "
                             "'no_such_module_x'; install it or put its folder on PYTHONPATH"),
    ("my_rules:HighestPriorty", "my_rules has no 'HighestPriorty'; did you mean "
                                "'my_rules:HighestPriority'?"),
    ("my_rules:NotASelector", "is not a curate.selectors.base.Selector subclass"),
    (":HighestPriority", "cannot read selector ':HighestPriority'"),
])
def test_dotted_path_errors_are_one_line(dotted_selector, path, message):
    config, _ = dotted_selector
    result = runner.invoke(app, ["select", str(config), "--set", f"select.selector={path}"])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split())
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_dotted_path_module_in_the_working_directory_imports(tmp_path, monkeypatch):
    """The `curate` console script does not put the working directory on sys.path."""
    import sys

    from curate.selectors import make_selector

    (tmp_path / "here_rules.py").write_text(CUSTOM_SELECTOR)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "here_rules", raising=False)
    assert make_selector("here_rules:HighestPriority").name == "here_rules:HighestPriority"


def test_a_dotted_path_module_that_fails_to_import_says_why(dotted_selector, tmp_path):
    from curate.selectors import make_selector

    (tmp_path / "mods" / "broken_rules.py").write_text("import numpy\nraise ValueError('oops')\n")
    with pytest.raises(CurateError, match=r"importing broken_rules failed \(ValueError: oops\)"):
        make_selector("broken_rules:Anything")


def test_schema_is_json_with_the_config_sections_and_checks_the_configs(tmp_path):
    import json

    jsonschema = pytest.importorskip("jsonschema")
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert {"select", "embed", "data", "cluster"} <= set(schema["properties"])
    assert schema["$defs"]["SelectConfig"]["properties"]["budget"]["default"] == "2%"
    validator = jsonschema.validators.validator_for(schema)(schema)
    assert isinstance(validator, jsonschema.Draft7Validator)  # what editors support
    for config in sorted((Path(__file__).parents[1] / "configs").glob("*.yaml")):
        assert not list(validator.iter_errors(yaml.safe_load(config.read_text()))), config
    typo = {"data": {"source": "builtin:digits"}, "select": {"budgt": 20}}
    assert any("budgt" in e.message for e in validator.iter_errors(typo))

    out = tmp_path / "editor" / "curate.schema.json"
    written = runner.invoke(app, ["schema", "--out", str(out)])
    assert written.exit_code == 0 and written.stdout.strip() == str(out)
    assert json.loads(out.read_text()) == schema
    assert [p.name for p in out.parent.iterdir()] == ["curate.schema.json"]  # no temp left
    folder = runner.invoke(app, ["schema", "--out", str(tmp_path)])
    assert folder.exit_code == 2 and "cannot write" in folder.stderr


@pytest.mark.parametrize(("section", "message"), [
    ({"select": {"selector": "kmq", "params": {"temperature": 0}}},
     "selector 'kmq': temperature=0 is not in (0, inf); change select.params.temperature"),
    ({"synth": {"generator": "mh-gan", "params": {"calibration": "iso"}}},
     "generator 'mh-gan': calibration='iso' is not one of 'logistic', 'isotonic'"),
])
def test_a_bad_parameter_value_is_one_line_before_any_data_is_read(tmp_path, section, message):
    """The data file does not exist: the parameter is reported, so nothing was loaded."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"source": str(tmp_path / "missing.jsonl"), "text_column": "text"},
        "select": {"selector": "random", "budget": 4},
        "output": {"dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache")},
        **section}))
    result = runner.invoke(app, ["select", str(config)])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()
