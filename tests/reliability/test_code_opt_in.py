"""Risk "a config is code": `selector: module:Class` (or `synth.generator`, or a bench
selector) imports that module, and its top-level code runs before any check. A config runs
no code unless the user opts in (`--allow-code`, CURATE_ALLOW_CODE=1, `allow_code=True`);
without it the refusal is one line naming the setting and the opt-in, and the module is
never imported. Installed selectors (entry points) are found by name and need no opt-in."""

import os
import sys
import types

import pytest

import curate
from curate.config_load import ALLOW_CODE_ENV, load_config, read_config_file
from curate.errors import CurateError

from .helpers import assert_one_line_error, invoke, run_folders, write_config
from .test_config_reader import api_frame, api_select

MODULE = '''
from pathlib import Path
Path({marker!r}).write_text("top-level code ran")

from curate.selectors.random import RandomSelector

class Mine(RandomSelector):
    """A dotted-path selector: random under another name."""
'''


@pytest.fixture
def evil(tmp_path, monkeypatch):
    """A module beside the config whose top-level code writes `marker`."""
    marker = tmp_path / "ran.txt"
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "evil_rules.py").write_text(MODULE.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    monkeypatch.delitem(sys.modules, "evil_rules", raising=False)
    monkeypatch.delenv(ALLOW_CODE_ENV, raising=False)
    yield marker
    sys.modules.pop("evil_rules", None)


def assert_not_imported(marker):
    assert not marker.exists()
    assert "evil_rules" not in sys.modules


@pytest.mark.parametrize(("section", "setting"), [
    ({"select": {"selector": "evil_rules:Mine", "budget": 12}}, "select.selector"),
    ({"synth": {"generator": "evil_rules:Gen", "per_label": 2}}, "synth.generator"),
    ({"bench": {"selectors": ["random", "evil_rules:Mine[k=3]"]}}, "bench.selectors[1]"),
])
def test_a_config_naming_code_is_refused_without_the_opt_in(tmp_path, evil, section, setting):
    config = write_config(tmp_path, **section)
    code, _, err = invoke("select", config)
    assert_one_line_error(code, err, setting, "evil_rules:", "--allow-code", ALLOW_CODE_ENV)
    assert_not_imported(evil)
    assert not (tmp_path / "runs").exists()
    with pytest.raises(CurateError, match=setting.replace("[", r"\[")):
        read_config_file(config)
    assert_not_imported(evil)


def test_a_set_override_naming_code_is_refused_too(tmp_path, evil):
    code, _, err = invoke("select", write_config(tmp_path), "--set",
                          "select.selector=evil_rules:Mine")
    assert_one_line_error(code, err, "select.selector", "--allow-code")
    assert_not_imported(evil)


def test_the_opt_in_imports_it(tmp_path, evil, monkeypatch):
    config = write_config(tmp_path, select={"selector": "evil_rules:Mine", "budget": 12})
    code, _, err = invoke("select", config, "--allow-code")
    assert code == 0, err
    assert evil.exists() and len(run_folders(tmp_path)) == 1
    assert ALLOW_CODE_ENV not in os.environ  # the flag lasts one command
    monkeypatch.setenv(ALLOW_CODE_ENV, "1")
    assert load_config(config).select.selector == "evil_rules:Mine"


def test_registered_names_need_no_opt_in(tmp_path, evil):
    assert load_config(write_config(tmp_path, select={"selector": "kmq", "budget": 12}))
    assert_not_imported(evil)


@pytest.mark.parametrize("command", ["run", "serve"])
def test_run_and_serve_carry_the_opt_in_to_the_flow(tmp_path, evil, monkeypatch, command):
    """The flow reads the config again (`curate run` in this process, `curate serve`'s
    scheduled runs in child processes, which inherit the environment)."""
    import contextlib

    seen = []

    def flow_reads_the_config(config, *args, **kwargs):
        seen.append((load_config(config).select.selector, os.environ.get(ALLOW_CODE_ENV)))
        return str(tmp_path)

    flows = types.SimpleNamespace(curation=flow_reads_the_config,
                                  serve_curation=flow_reads_the_config)
    monkeypatch.setitem(sys.modules, "curate.flows.curation", flows)
    monkeypatch.setitem(sys.modules, "curate.flows.serve", flows)
    monkeypatch.setattr("curate.prefect_server.flow_api", lambda home: contextlib.nullcontext())
    monkeypatch.setattr("curate.cli._echo_run", lambda run_dir: None)
    config = write_config(tmp_path, select={"selector": "evil_rules:Mine", "budget": 12})
    extra = ["--debug"] if command == "run" else ["--cron", "0 3 * * *"]
    code, _, err = invoke(command, config, *extra)
    assert_one_line_error(code, err, "select.selector", "--allow-code")
    assert_not_imported(evil)
    assert not seen
    code, _, err = invoke(command, config, *extra, "--allow-code")
    assert code == 0, err
    assert seen == [("evil_rules:Mine", "1")]
    assert ALLOW_CODE_ENV not in os.environ


# The Python API: its `config=` file goes through the same check (its own `selector=`
# argument is Python the caller wrote, and needs none).

def test_the_api_refuses_code_in_a_config_file(tmp_path, evil):
    config = tmp_path / "c.yaml"
    config.write_text("synth:\n  generator: evil_rules:Gen\n  per_label: 2\n")
    with pytest.raises(CurateError) as caught:
        api_select(tmp_path, config)
    assert "synth.generator" in str(caught.value) and "allow_code=True" in str(caught.value)
    assert_not_imported(evil)


def test_the_api_takes_the_opt_in(tmp_path, evil):
    config = tmp_path / "c.yaml"
    config.write_text("run:\n  seed: 3\nsynth:\n  generator: evil_rules:Gen\n")
    with pytest.raises(CurateError, match="evil_rules has no 'Gen'"):
        curate.select(api_frame(), 5, "random", vectors="vec", config=config,
                      out=tmp_path / "runs", cache_dir=tmp_path / "cache", allow_code=True)
    assert evil.exists()

