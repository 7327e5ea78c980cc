"""Which Prefect API `curate run` and `curate serve` use, and the servers curate starts."""

import json
import os

from curate.prefect_server import _server_env, flow_api, running_server, server_home


def test_no_record_or_a_dead_one_is_no_server(tmp_path):
    home = server_home(tmp_path / "cache")
    assert home == tmp_path / "cache" / "prefect-server"
    assert running_server(home) is None
    home.mkdir(parents=True)
    (home / "server.json").write_text("not json")
    assert running_server(home) is None
    # a record left by a killed `curate server start`: its process is gone
    (home / "server.json").write_text(json.dumps({"api_url": "http://127.0.0.1:9/api",
                                                  "pid": 2 ** 22 + 1}))
    assert running_server(home) is None
    # a live process whose server does not answer
    (home / "server.json").write_text(json.dumps({"api_url": "http://127.0.0.1:9/api",
                                                  "pid": os.getpid()}))
    assert running_server(home) is None


def test_configured_api_url_is_used_as_is(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://example.invalid:4200/api")
    with flow_api(tmp_path / "home") as url:
        assert url == "http://example.invalid:4200/api"
    assert not (tmp_path / "home").exists()


def test_the_ui_is_told_the_port_its_server_listens_on(monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://elsewhere:4200/api")
    env = _server_env("http://127.0.0.1:5123/api", 5123, None)
    assert env["PREFECT_UI_API_URL"] == "http://127.0.0.1:5123/api"
    assert env["PREFECT_SERVER_API_PORT"] == "5123" and "PREFECT_API_URL" not in env
