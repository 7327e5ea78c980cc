"""Config faults: every one is a one-line error naming the fix, exit 2, and nothing written."""

import pytest

from .helpers import assert_one_line_error, invoke, write_config


@pytest.mark.parametrize("name", ["../../x", "a/b", "..", "a\\b", "."])
def test_run_name_cannot_leave_the_output_dir(tmp_path, name):
    code, _, err = invoke("select", write_config(tmp_path, run={"name": name}))
    assert_one_line_error(code, err, "run.name", "plain folder name")
    assert not (tmp_path / "runs").exists()
    assert not any(p.name == "x" for p in tmp_path.parent.iterdir())
