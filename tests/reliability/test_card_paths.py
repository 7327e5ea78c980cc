"""Defect 2: a local absolute path leaked into the public dataset card when the pool was
`data.source: /some/local/folder`. Only Hub ids and bare file names may appear."""

import pytest

from curate.hub import _source

from .helpers import invoke, run_folders, vector_pool, write_config


def test_a_local_folder_source_never_reaches_the_card(tmp_path):
    folder = tmp_path / "private-user" / "pool-folder"
    folder.mkdir(parents=True)
    vector_pool(folder / "train.parquet")
    config = write_config(tmp_path, {"source": str(folder), "vector_column": "vec",
                                     "label_column": "label"})
    code, _, err = invoke("select", config)
    assert code == 0, err
    out = tmp_path / "export"
    code, _, err = invoke("export", run_folders(tmp_path)[0], "--repo", "user/name",
                          "--dry-run", out)
    assert code == 0, err
    card = (out / "README.md").read_text()
    assert str(tmp_path) not in card and "private-user" not in card
    assert "pool-folder" in card  # the bare name still says where the rows came from


@pytest.mark.parametrize(("data", "expected"), [
    ({"source": "builtin:wordnet"}, ("builtin:wordnet", "wordnet")),
    ({"source": "stanfordnlp/imdb"}, ("stanfordnlp/imdb", "stanfordnlp/imdb")),
    ({"source": "imdb"}, ("imdb", "imdb")),
    ({"source": "/home/me/data/pool"}, ("pool", "original")),
    ({"source": "./data/pool"}, ("pool", "original")),
    ({"source": "~/pool"}, ("pool", "original")),
    ({"source": "a/b/c"}, ("c", "original")),
    ({"path": "/home/me/data/pool.jsonl"}, ("pool.jsonl", "original")),
])
def test_card_source_is_a_hub_id_or_a_bare_name(data, expected):
    assert _source(data) == expected
