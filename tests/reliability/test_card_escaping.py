"""Defect 7: the run name and the pool's file name went into the dataset card's markdown
raw: `<img src=x onerror=...>` appeared as is, and a newline or `|` broke the provenance
table. They are escaped, as report.html escapes them."""

import re

from huggingface_hub import DatasetCard

from .helpers import invoke, run_folders, vector_pool, write_config

HOSTILE_RUN = "<img src=x onerror=alert(1)> | run"
HOSTILE_POOL = "p|<b>bold\nq.parquet"


def test_run_and_pool_names_are_escaped_in_the_card(tmp_path):
    pool = vector_pool(tmp_path / HOSTILE_POOL)
    config = write_config(tmp_path, {"path": str(pool), "vector_column": "vec",
                                     "label_column": "label"}, run={"name": HOSTILE_RUN})
    code, _, err = invoke("select", config)
    assert code == 0, err
    out = tmp_path / "export"
    code, _, err = invoke("export", run_folders(tmp_path)[0], "--repo", "alice/x",
                          "--dry-run", out)
    assert code == 0, err
    card = DatasetCard((out / "README.md").read_text())
    text = card.text
    assert "<img" not in text and "<b>" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text and "&lt;b&gt;bold q.parquet" in text
    rows = [line for line in text.splitlines() if line.startswith("|")]
    # every table row keeps its two cells: no raw `|` or line break from a name
    assert all(len(re.findall(r"(?<!\\)\|", line)) == 3 for line in rows), rows
    cells = dict(re.split(r"(?<!\\)\|", line)[1:3] for line in rows)
    cells = {k.strip(): v.strip() for k, v in cells.items()}
    assert cells["run"].startswith(r"&lt;img src=x onerror=alert(1)&gt; \| run/")
    assert cells["pool"] == r"p\|&lt;b&gt;bold q.parquet"
    assert "q.parquet (60 rows)" in text  # the sentence above the table: one line too
