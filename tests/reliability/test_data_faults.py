"""Defect 9: a valid jsonl/csv whose column type changes after ~100 rows (int labels, then a
string) was rejected as "invalid or truncated". Types are inferred over the whole file.
Error-message accuracy: a bad jsonl line is named by its number (polars said "at character
0", or "line 0" for bad UTF-8)."""

import json

import pytest

from curate.config import DataConfig
from curate.data import load_pool
from curate.errors import CurateError


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_a_column_whose_type_changes_late_is_read(tmp_path, suffix):
    rows = [{"text": f"row {i}", "label": i % 3} for i in range(300)]
    rows.append({"text": "the odd one", "label": "other"})
    path = tmp_path / f"pool{suffix}"
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        path.write_text("text,label\n" + "".join(f"{r['text']},{r['label']}\n" for r in rows))
    pool = load_pool(DataConfig(path=path, text_column="text", label_column="label"))
    assert len(pool) == 301 and "other" in set(pool.labels())


GOOD = '{"text": "row %d", "label": 1}\n'


@pytest.mark.parametrize(("bad_line", "expected"), [
    (b'{"text": "c", "label: 3}\n', "line 3 is not valid JSON"),
    (b'{"text": "caf\xe9", "label": 3}\n', "line 3 is not UTF-8"),
    (b"[1, 2]\n", "line 3 is not a JSON object"),
    (b'{"text": "cut off', "line 3 is not valid JSON"),
])
def test_a_bad_jsonl_line_is_named_by_number(tmp_path, bad_line, expected):
    path = tmp_path / "pool.jsonl"
    after = b"" if bad_line.endswith(b"off") else (GOOD % 4).encode()
    path.write_bytes((GOOD % 1 + GOOD % 2).encode() + bad_line + after)
    with pytest.raises(CurateError, match=expected) as info:
        load_pool(DataConfig(path=path, text_column="text"))
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_bad_utf8_far_down_names_its_line(tmp_path):
    path = tmp_path / "pool.jsonl"
    path.write_bytes("".join(GOOD % i for i in range(500)).encode()
                     + b'{"text": "\xff", "label": 2}\n' + (GOOD % 9).encode())
    with pytest.raises(CurateError, match="line 501 is not UTF-8"):
        load_pool(DataConfig(path=path, text_column="text"))
