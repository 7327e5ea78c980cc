"""Every code block of README.md and docs/*.md runs as written (issue 26).

- ```python blocks run with the workspace below as the working directory; a block after
  `<!-- docs-test: file: NAME -->` is written to NAME there instead (a module the next
  blocks use, e.g. my_rules.py).
- ```yaml blocks are read by curate's config reader and validated, merged over a minimal
  config, so a misspelt key or a bad value in a documented config fails here.
- ```bash blocks: every command is `curate ...` and exits 0 (in-process, typer's runner).
- A block that cannot run offline and in seconds (a Hub push, a Ray cluster, a fine-tune,
  `make demo`) carries `<!-- docs-test: skip: <reason> -->` on the line before it; the
  reason is required. A ```text block is shown, not run.

The workspace (one per session, so the embedding cache is shared): `pool.jsonl` and
`pool.parquet` hold 150 WordNet glosses of 3 categories (columns id, text, label and a
numeric `priority`); `my.yaml` and `pool.yaml` are the README's own-data config;
`configs/` holds the repository's configs with `data.sample` and a small k-means, so a
documented `configs/demo.yaml` run takes seconds. `RUN_DIR` in a command is the newest run
folder there.
"""

from __future__ import annotations

import re
import shlex
import time
import traceback
from pathlib import Path

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[ \t]*\n(?P<body>.*?)^(?P=indent)```",
                   re.M | re.S)
MARKER = re.compile(r"<!--\s*docs-test:\s*(?P<kind>skip|file)\s*:(?P<arg>.*?)-->")
SHRINK = {"data": {"sample": 150}, "cluster": {"k": 8, "niter": 5, "nredo": 1},
          "embed": {"max_length": 64}}
MINIMAL = {"data": {"source": "builtin:digits"}}
SECONDS = 120  # a command or block past this (on a busy 2-core machine) needs smaller data


def blocks() -> list:
    found = []
    for page in PAGES:
        text = page.read_text()
        for match in FENCE.finditer(text):
            before = text[:match.start()].rstrip().rsplit("\n", 1)[-1]
            marker = MARKER.search(before)
            body = "\n".join(line.removeprefix(match["indent"])
                             for line in match["body"].splitlines())
            line = text[:match.start()].count("\n") + 1
            found.append(pytest.param(match["lang"], body, marker,
                                      id=f"{page.relative_to(ROOT)}:{line}"))
    return found


def test_every_page_is_found_and_every_skip_has_a_reason():
    assert len(PAGES) > 10 and any(p.name == "README.md" for p in PAGES)
    for param in blocks():
        _, _, marker = param.values
        if marker and marker["kind"] == "skip":
            assert len(marker["arg"].strip()) > 10, f"{param.id}: a skip needs its reason"


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Path:
    from curate.config import DataConfig
    from curate.data import load_pool

    root = tmp_path_factory.mktemp("docs-workspace")
    glosses = load_pool(DataConfig(source="builtin:wordnet")).frame
    pool = (glosses.filter(pl.col("label").is_in(["noun.animal", "noun.food", "verb.motion"]))
            .sample(n=150, seed=0).sort("id").with_row_index("priority"))
    pool.write_parquet(root / "pool.parquet")
    pool.write_ndjson(root / "pool.jsonl")
    own = {"data": {"path": "pool.jsonl", "text_column": "text", "label_column": "label"},
           "select": {"budget": "2%"}, "cluster": SHRINK["cluster"], "embed": SHRINK["embed"]}
    for name in ("my.yaml", "pool.yaml"):
        (root / name).write_text(yaml.safe_dump(own))
    (root / "configs").mkdir()
    for config in (ROOT / "configs").glob("*.yaml"):
        raw = yaml.safe_load(config.read_text())
        for section, values in SHRINK.items():
            raw[section] = {**raw.get(section, {}), **values}
        (root / "configs" / config.name).write_text(yaml.safe_dump(raw))
    return root


@pytest.fixture
def in_workspace(workspace, monkeypatch, tmp_path) -> Path:
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(workspace / ".user-cache"))
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("CURATE_SERVER_LINGER", "0")  # no Prefect server outlives the test
    monkeypatch.setattr("webbrowser.open", lambda *args, **kwargs: True)
    return workspace


def newest_run(workspace: Path) -> str:
    runs = [p for p in workspace.rglob("manifest.json") if ".user-cache" not in p.parts
            and p.parent.parent.parent.name in ("runs", "select")]
    assert runs, "RUN_DIR: no run folder yet (a block that writes one must come first)"
    return str(max(runs, key=lambda p: p.stat().st_mtime).parent)


def commands(body: str) -> list[list[str]]:
    joined = re.sub(r"\\\n\s*", " ", body)
    return [words for line in joined.splitlines() if (words := shlex.split(line, comments=True))]


def run_curate(words: list[str], workspace: Path) -> None:
    from curate.cli import app

    assert words[0] == "curate", f"{shlex.join(words)}: not a curate command; mark the " \
        "block `<!-- docs-test: skip: <reason> -->` if it cannot run here"
    args = [newest_run(workspace) if word == "RUN_DIR" else word for word in words[1:]]
    start = time.monotonic()
    result = CliRunner().invoke(app, args)
    seconds = time.monotonic() - start
    detail = result.output
    if result.exc_info and not isinstance(result.exception, SystemExit):
        detail += "".join(traceback.format_exception(*result.exc_info))
    assert result.exit_code == 0, f"{shlex.join(words)} exited {result.exit_code}:\n{detail}"
    assert seconds < SECONDS, f"{shlex.join(words)} took {seconds:.0f} s: keep examples to seconds"


def check_config(body: str, tmp_path: Path) -> None:
    from curate.config_load import parse_config, read_config_file

    path = tmp_path / "block.yaml"
    path.write_text(body)
    parse_config({**MINIMAL, **read_config_file(path, allow_code=True)})


@pytest.mark.slow  # the blocks embed 150 glosses once, then each runs from the cache
@pytest.mark.parametrize(("lang", "body", "marker"), blocks())
def test_block_runs_as_written(lang, body, marker, in_workspace, tmp_path):
    if marker and marker["kind"] == "skip":
        pytest.skip(marker["arg"].strip())
    if marker and marker["kind"] == "file":
        (in_workspace / marker["arg"].strip()).write_text(body)
    elif lang == "python":
        start = time.monotonic()
        exec(compile(body, "<docs block>", "exec"), {"__name__": "__docs__"})
        assert time.monotonic() - start < SECONDS, "keep documented examples to seconds"
    elif lang == "yaml":
        check_config(body, tmp_path)
    elif lang == "text":  # shown, not run
        return
    elif lang in ("bash", "console", "sh"):  # each command timed on its own
        for words in commands(body):
            run_curate(words, in_workspace)
    else:
        pytest.fail(f"a ```{lang} block: give it a language the test runs, or a skip marker")
