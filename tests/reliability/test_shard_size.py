"""Issue 27, defect 8c: `export.max_shard_size: 0MB`, `abc` or `-5MB` was accepted by
`curate select` and crashed `curate export` (a ZeroDivisionError or ValueError traceback).
The size is checked when the config loads: one line, exit 2, no run folder."""

import pytest

from .helpers import assert_one_line_error, invoke, run_folders, write_config


@pytest.mark.parametrize("size", ["0MB", "abc", "-5MB", "5", "1.5GB", "0KiB", ""])
def test_a_bad_shard_size_is_refused_at_load(tmp_path, size):
    code, _, err = invoke("select", write_config(tmp_path, export={"max_shard_size": size}))
    assert_one_line_error(code, err, "export.max_shard_size", "e.g. 500MB")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("size", ["1KB", "512MiB", "2gb"])
def test_a_good_shard_size_exports(tmp_path, size):
    code, _, err = invoke("select", write_config(tmp_path, export={"max_shard_size": size}))
    assert code == 0, err
    code, _, err = invoke("export", run_folders(tmp_path)[0], "--repo", "alice/x",
                          "--dry-run", tmp_path / "out")
    assert code == 0, err
    assert list((tmp_path / "out" / "data").glob("train-*.parquet"))
