"""Export faults: network down (defect 4), a corrupt manifest (defect 11), an empty --repo.
Each is one line, exit 2, and nothing is committed or written."""

import httpx2
import pytest
from huggingface_hub import HfApi, constants

from .helpers import assert_one_line_error, invoke, run_folders, write_config

SECRET = "hf_reliabilityTokenQ8v"


@pytest.fixture
def run_dir(tmp_path):
    code, _, err = invoke("select", write_config(tmp_path))
    assert code == 0, err
    return run_folders(tmp_path)[0]


@pytest.fixture
def online(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", SECRET)


def network_down(self, *args, **kwargs):
    request = httpx2.Request("POST", "https://huggingface.co/api/repos/create")
    raise httpx2.ConnectError("[Errno -3] Temporary failure in name resolution",
                              request=request)


def timeout(self, *args, **kwargs):
    raise httpx2.ReadTimeout("timed out")


@pytest.mark.parametrize("fault", [network_down, timeout])
def test_export_with_the_network_down(run_dir, online, monkeypatch, fault):
    monkeypatch.setattr(HfApi, "create_repo", fault)
    code, _, err = invoke("export", run_dir, "--repo", "alice/x")
    assert_one_line_error(code, err, "push to alice/x failed", "nothing was committed")
    assert SECRET not in err


@pytest.mark.parametrize("damage", ["truncated", "not json", "missing keys", "a list"])
def test_export_of_a_run_with_a_corrupt_manifest(run_dir, tmp_path, damage):
    manifest = run_dir / "manifest.json"
    text = manifest.read_text()
    manifest.write_text({"truncated": text[:len(text) // 2], "not json": "\x00\xff garbage",
                         "missing keys": "{}", "a list": "[1, 2]"}[damage])
    code, _, err = invoke("export", run_dir, "--repo", "alice/x", "--dry-run", tmp_path / "d")
    assert_one_line_error(code, err, "manifest.json", "damaged")
    assert not (tmp_path / "d").exists()


def test_export_with_an_empty_repo(run_dir):
    code, _, err = invoke("export", run_dir, "--repo", "")
    assert_one_line_error(code, err, "export needs a Hub repo as USER/NAME")
    assert "None" not in err
