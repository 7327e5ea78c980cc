"""Defect 9: a valid jsonl/csv whose column type changes after ~100 rows (int labels, then a
string) was rejected as "invalid or truncated". Types are inferred over the whole file."""

import json

import pytest

from curate.config import DataConfig
from curate.data import load_pool


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
