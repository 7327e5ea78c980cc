"""Hub export: one commit of parquet shards and a card, captured at HfApi (no network)."""

import io
import json

import polars as pl
import pytest
import yaml
from huggingface_hub import DatasetCard, HfApi, constants
from typer.testing import CliRunner

from curate.cli import app
from curate.config_load import parse_config
from curate.errors import CurateError
from curate.hub import export_run, provenance, size_category
from curate.run import run_curation

SECRET = "hf_curateTestTokenZq7XvW3pL9"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, glosses):
    root = tmp_path_factory.mktemp("hub-run")
    glosses.write_parquet(root / "glosses.parquet")
    cfg = parse_config({
        "data": {"path": str(root / "glosses.parquet"), "text_column": "text",
                 "label_column": "label"},
        "select": {"selector": "random", "budget": 20},
        "export": {"license": "cc-by-4.0", "max_shard_size": "1KB"},
        "run": {"name": "hub", "seed": 3},
        "output": {"dir": str(root / "runs"), "cache_dir": str(root / "cache")}})
    return run_curation(cfg)


class Captured:
    def __init__(self):
        self.repos, self.commits = [], []


@pytest.fixture
def hub(monkeypatch):
    """HfApi with create_repo / create_commit captured; online, with a distinctive token."""
    captured = Captured()

    def create_repo(self, repo_id, **kwargs):
        captured.repos.append((repo_id, kwargs))

    def create_commit(self, repo_id, operations, **kwargs):
        files = {}
        for op in operations:
            with op.as_file() as f:
                files[op.path_in_repo] = f.read()
        captured.commits.append((repo_id, files, kwargs))
        return type("Commit", (), {"commit_url": f"https://huggingface.co/datasets/{repo_id}"})

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "create_commit", create_commit)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", SECRET)
    return captured


def test_push_is_one_commit_of_shards_and_a_card(run_dir, hub):
    url = export_run(run_dir, "alice/glosses-subset", private=True)
    assert url == "https://huggingface.co/datasets/alice/glosses-subset"
    assert hub.repos == [("alice/glosses-subset", {"repo_type": "dataset", "private": True,
                                                    "exist_ok": True})]
    (repo, files, kwargs), = hub.commits
    assert repo == "alice/glosses-subset" and kwargs["repo_type"] == "dataset"
    shards = sorted(p for p in files if p.startswith("data/"))
    assert set(files) == {"README.md", "selection.parquet", "config.yaml", *shards}
    assert len(shards) > 1
    assert shards == [f"data/train-{i:05d}-of-{len(shards):05d}.parquet"
                      for i in range(len(shards))]
    subset = pl.read_parquet(run_dir / "subset" / "subset.parquet")
    uploaded = pl.concat([pl.read_parquet(io.BytesIO(files[p])) for p in shards])
    # every row, in order, the user's columns only (their own id column included)
    assert uploaded.equals(subset.select("id", "text", "label"))


def test_card_metadata_and_provenance(run_dir, hub):
    export_run(run_dir, "alice/glosses-subset")
    card = DatasetCard(hub.commits[0][1]["README.md"].decode())
    meta = card.data.to_dict()
    assert meta["license"] == "cc-by-4.0" and meta["size_categories"] == ["n<1K"]
    assert meta["source_datasets"] == ["original"] and meta["pretty_name"] == "glosses-subset"
    info = meta["dataset_info"]
    assert [f["name"] for f in info["features"]] == ["id", "text", "label"]  # user columns
    assert meta["task_categories"] == ["text-classification"] and "language" not in meta
    assert info["splits"] == [{"name": "train", "num_bytes": info["dataset_size"],
                               "num_examples": 20}]
    assert meta["configs"] == [{"config_name": "default",
                                "data_files": [{"split": "train", "path": "data/train-*"}]}]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    table = dict(line.strip("|").split("|", 1) for line in card.text.splitlines()
                 if line.startswith("| ") and line.count("|") == 3)
    table = {k.strip(): v.strip() for k, v in table.items()}
    assert table["pool"] == "glosses.parquet"  # the file name, never the local path
    assert table["pool fingerprint"] == f"`{manifest['pool']['fingerprint']}`"
    assert table["selectors"] == "random" and table["seeds"] == "3"
    assert table["budgets"] == "20 rows, stratified over 3 labels" and table["pool rows"] == "300"
    assert table["subset fingerprint"].startswith(f"`{manifest['subset']['fingerprint']}`")
    assert table["synthetic share"] == "0.00% (0 rows)"
    assert table["random"] == "20"
    assert str(run_dir.parent.parent) not in card.content


def test_provenance_counts_selectors_and_synthetic_rows(run_dir):
    real = pl.read_parquet(run_dir / "subset" / "subset.parquet").head(6)
    subset = pl.concat([
        real.with_columns(curate_selector=pl.Series(["kmq"] * 4 + ["ot"] * 2),
                          curate_source=pl.lit("pool")),
        real.head(2).with_columns(id=pl.Series(["synth-a", "synth-b"]),
                                  curate_selector=pl.lit(None, pl.Utf8),
                                  curate_source=pl.lit("mh-gan"))])
    prov = provenance(run_dir, subset)
    assert prov["per_selector"] == {"kmq": 4, "ot": 2}
    assert prov["per_generator"] == {"mh-gan": 2}
    assert prov["synthetic_rows"] == 2 and prov["synthetic_share"] == pytest.approx(0.25)


def test_dry_run_writes_exactly_what_the_commit_uploads(run_dir, hub, tmp_path):
    export_run(run_dir, "alice/glosses-subset", dry_run=tmp_path / "out")
    export_run(run_dir, "alice/glosses-subset")
    written = {str(p.relative_to(tmp_path / "out")): p.read_bytes()
               for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert written == hub.commits[0][1]
    with pytest.raises(CurateError, match="not empty"):
        export_run(run_dir, "alice/glosses-subset", dry_run=tmp_path / "out")


def test_the_token_is_written_nowhere(run_dir, hub, tmp_path):
    export_run(run_dir, "alice/glosses-subset", dry_run=tmp_path / "out")
    export_run(run_dir, "alice/glosses-subset")
    code, out, err = invoke("export", run_dir, "--repo", "alice/x", "--dry-run", tmp_path / "o2")
    assert code == 0 and SECRET not in out + err
    roots = [tmp_path, run_dir.parent.parent]
    files = [p for root in roots for p in root.rglob("*") if p.is_file()]
    assert len(files) > 10
    assert not [p for p in files if SECRET.encode() in p.read_bytes()]
    assert all(SECRET.encode() not in content for content in hub.commits[0][1].values())


def unauthorised(self, repo_id, **kwargs):
    from httpx2 import Request, Response  # the HTTP client huggingface_hub raises with
    from huggingface_hub.errors import HfHubHTTPError

    request = Request("POST", "https://huggingface.co/api/repos/create")
    raise HfHubHTTPError("401 Client Error: Unauthorized", response=Response(401,
                                                                             request=request))


@pytest.mark.parametrize("case", ["offline", "no token", "unauthorised"])
def test_offline_or_unauthorised_is_one_line_and_nothing_is_committed(run_dir, hub, case,
                                                                     monkeypatch, tmp_path):
    if case == "offline":
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
        message = "HF_HUB_OFFLINE is set"
    elif case == "no token":
        monkeypatch.delenv("HF_TOKEN")
        monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
        monkeypatch.delenv("HF_OIDC_RESOURCE", raising=False)
        monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
        message = "no Hugging Face token"
    else:
        monkeypatch.setattr(HfApi, "create_repo", unauthorised)
        message = "push to alice/x failed: 401 Client Error"
    code, _, err = invoke("export", run_dir, "--repo", "alice/x")
    assert code == 2 and err.startswith(f"error: {message}") and err.count("\n") == 1, err
    assert hub.commits == [] and SECRET not in err


runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, list(map(str, args)))
    return result.exit_code, result.stdout, result.stderr


def test_cli_dry_run_and_bad_arguments(run_dir, tmp_path):
    code, out, _ = invoke("export", run_dir, "--repo", "alice/x", "--dry-run", tmp_path / "d")
    assert code == 0 and out.strip() == str(tmp_path / "d")
    assert (tmp_path / "d" / "README.md").is_file()
    code, _, err = invoke("export", run_dir)
    assert code == 2 and "needs a Hub repo as USER/NAME" in err
    code, _, err = invoke("export", tmp_path, "--repo", "alice/x")
    assert code == 2 and "is not a run folder" in err
    code, _, err = invoke("export", run_dir, "--repo", "alice/bad name")
    assert code == 2 and "invalid repo id" in err


def test_export_section_supplies_the_repo(run_dir, hub, tmp_path):
    copy = tmp_path / "runs" / "hub" / run_dir.name
    import shutil

    shutil.copytree(run_dir, copy)
    config = yaml.safe_load((copy / "config.yaml").read_text())
    config["export"]["repo"] = "team/nightly"
    (copy / "config.yaml").write_text(yaml.safe_dump(config))
    assert invoke("export", copy)[0] == 0
    assert hub.commits[0][0] == "team/nightly"


def test_size_categories():
    assert [size_category(n) for n in (0, 999, 1000, 99_999, 100_000, 5_000_000)] == [
        "n<1K", "n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M"]


def test_dry_run_holds_the_user_columns_selection_and_config(tmp_path, glosses):
    """Issue 14: no curate bookkeeping in the data files; `id` only when the pool had no
    id of its own; selection.parquet and config.yaml beside them; card metadata."""
    pool = tmp_path / "pool.jsonl"
    glosses.rename({"id": "uid", "text": "gloss"}).write_ndjson(pool)
    for id_column, expected in ((None, ["id", "uid", "gloss", "label"]),
                                ("uid", ["uid", "gloss", "label"])):
        folder = tmp_path / f"out-{id_column}"
        cfg = parse_config({
            "data": {"path": str(pool), "text_column": "gloss", "label_column": "label",
                     "id_column": id_column},
            "select": {"selector": "kmq", "budget": 12},
            "cluster": {"k": 4, "niter": 5, "nredo": 1},
            "run": {"name": f"export-{id_column}"},
            "output": {"dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache")}})
        run_dir = run_curation(cfg)
        export_run(run_dir, "alice/clean", dry_run=folder)
        files = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
        shards = sorted(f for f in files if f.startswith("data/"))
        assert files == {"README.md", "selection.parquet", "config.yaml", *shards}
        data = pl.concat([pl.read_parquet(folder / f) for f in shards])
        assert sorted(data.columns) == sorted(expected) and data.height == 12
        selection = pl.read_parquet(folder / "selection.parquet")
        assert selection.equals(pl.read_parquet(run_dir / "selection.parquet"))
        assert {"id", "selector", "reason"} <= set(selection.columns)
        config = yaml.safe_load((folder / "config.yaml").read_text())
        assert config["data"]["path"] == "pool.jsonl"  # no local path in a public repo
        assert str(tmp_path) not in (folder / "config.yaml").read_text()
        assert parse_config(config).select.selector == "kmq"
        card = DatasetCard.load(folder / "README.md")
        assert card.data.task_categories == ["text-classification"]
        assert "Diversify and Conquer" in card.text


def test_card_language_for_a_builtin(tmp_path):
    from curate.hub import LANGUAGES, citation

    assert LANGUAGES["builtin:wordnet"] == "en"
    assert "SemDeDup" in citation("semdedup") and citation("random") is None
    assert "Covering" in citation("probcover")
