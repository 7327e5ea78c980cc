"""Export a run's subset to the Hugging Face Hub, or to a local folder (`--dry-run`).

What goes up: the subset as parquet shards (`data/train-0000i-of-0000n.parquet`, the layout
`datasets.push_to_hub` writes, so `load_dataset(repo)` finds them) and a dataset card
(`README.md`: YAML metadata with features, split, size category, task category, language
when known, license and source datasets, and a provenance section with the selector's
citation). The data files hold the user's columns only (plus `id` when the pool had no id
column of its own); beside them go `selection.parquet` (every chosen id, its selector and
reason) and the run's resolved `config.yaml` (local paths reduced to their names), which
reproduce the subset. Everything goes in ONE commit: the Hub limits commits
per hour, and a single commit is atomic, so a failed push leaves nothing half-uploaded.

The token comes from `HF_TOKEN` or the standard login (`huggingface_hub.get_token()`); it
is handed to `HfApi` and nowhere else, never to logs, manifests or the card.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import polars as pl
import yaml

from curate.config import ExportConfig
from curate.config_load import parse_config
from curate.data.pool import BOOKKEEPING, SELECTOR, SOURCE
from curate.errors import CurateError
from curate.store import atomic_path, read_json

SIZE_CATEGORIES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                   (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"),
                   (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]


def size_category(rows: int) -> str:
    """The Hub's `size_categories` bucket for a row count."""
    return next((name for limit, name in SIZE_CATEGORIES if rows < limit), "n>1B")


def _source(data: dict) -> tuple[str, str]:
    """(what the card calls the pool, its source_datasets entry). Local paths are reduced to
    the file name: a card is public, the layout of the user's disk is not."""
    name = data.get("source")
    if name and (name.startswith("builtin:") or _is_hub_id(name)):
        return name, name.removeprefix("builtin:")
    # data.source may be a local folder too (datasets.load_dataset reads both).
    return Path(name or data["path"]).expanduser().resolve().name, "original"


def _is_hub_id(name: str) -> bool:
    """A Hub dataset id (`name` or `user/name`) that is not also a local path."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return not Path(name).exists()


def _shards(dataset, max_shard_size: str) -> list[bytes]:
    """The dataset as parquet shards of about `max_shard_size` each (datasets' own rule)."""
    import io

    from datasets.utils.py_utils import convert_file_size_to_int

    n = int(dataset.data.nbytes / convert_file_size_to_int(max_shard_size)) + 1
    shards = []
    for i in range(n):
        buffer = io.BytesIO()
        dataset.shard(num_shards=n, index=i, contiguous=True).to_parquet(buffer)
        shards.append(buffer.getvalue())
    return shards


def provenance(run_dir: Path, subset: pl.DataFrame) -> dict:
    """Where the subset came from, from the run's manifest, config and rows."""
    manifest = run_manifest(run_dir)
    data = yaml.safe_load((run_dir / "config.yaml").read_text())["data"]
    pool, source_dataset = _source(data)
    synthetic = subset[SOURCE] != "pool"
    per_selector = subset.filter(~synthetic)[SELECTOR].value_counts(sort=True)
    generators = subset.filter(synthetic)[SOURCE].value_counts(sort=True)
    return {
        "run": f"{run_dir.parent.name}/{run_dir.name}",
        "pool": pool,
        "source_datasets": [source_dataset],
        "pool_rows": manifest["pool"]["rows"],
        "funnel": manifest.get("funnel"),  # absent in a run folder from before it
        "pool_fingerprint": manifest["pool"]["fingerprint"],
        "selectors": [manifest["selector"]],
        "params": manifest["params"],
        "budgets": [manifest["budget"]],
        "seeds": [manifest["seed"]],
        "subset_rows": subset.height,
        "subset_fingerprint": manifest["subset"]["fingerprint"],
        "per_selector": dict(per_selector.iter_rows()),
        "synthetic_rows": int(synthetic.sum()),
        "synthetic_share": float(synthetic.mean()),
        "per_generator": dict(generators.iter_rows()),
        "curate_version": manifest["versions"].get("curate"),
        "task_categories": _task_categories(run_dir),
        "language": LANGUAGES.get(data.get("source")),
        "citation": citation((manifest.get("choice") or {}).get("selector")
                             or manifest["selector"]),
    }


def _task_categories(run_dir: Path) -> list[str]:
    try:
        spec = read_json(run_dir / "handoff.json")
    except (OSError, ValueError):
        return []
    fields = set(spec.get("fields", {}).values())
    columns = spec.get("subset", {}).get("columns", {})
    modality = "image" if any("image" in c for c in fields) else "vectors" if any(
        columns.get(c, "").startswith(("List", "Array")) for c in fields) else "text"
    category = TASK_CATEGORIES.get((spec.get("task"), modality))
    return [category] if category else []


def _budget(budget: dict) -> str:
    per_label = budget.get("per_label")
    if not per_label:
        return f"{budget['total']} rows"
    how = "stratified over" if budget.get("stratified") else "per label over"
    return f"{budget['total']} rows, {how} {len(per_label)} labels"


def _md(value: object) -> str:
    """`value` as text in the card's markdown, on one line: HTML escaped (as report.html
    escapes it), and `|`, backquotes, brackets and backslashes escaped, so a run or file
    name can neither break the provenance table nor open a link, an image or code."""
    text = html.escape(" ".join(str(value).splitlines()), quote=False)
    return re.sub(r"([\\`\[\]|])", r"\\\1", text)


def _code(text: str) -> str:
    """`text` (JSON, one line) as a code span in a table cell: fenced by more backquotes than
    it holds in a row, its `|` escaped (a bare `|` ends a cell, even in a code span)."""
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    return fence + text.replace("|", "\\|") + fence


def _card(repo: str, dataset, shards: list[bytes], prov: dict, license_id: str | None) -> bytes:
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard, DatasetCardData

    name = repo.split("/")[-1]
    extra = {"task_categories": prov["task_categories"]} if prov["task_categories"] else {}
    if prov["language"]:
        extra["language"] = [prov["language"]]
    card_data = DatasetCardData(license=license_id or "unknown",
                                size_categories=[size_category(dataset.num_rows)],
                                source_datasets=prov["source_datasets"], pretty_name=name,
                                tags=["curate"], **extra)
    splits = SplitDict()
    splits.add(SplitInfo(name="train", num_bytes=dataset.data.nbytes,
                         num_examples=dataset.num_rows))
    info = DatasetInfo(features=dataset.features, splits=splits,
                       download_size=sum(map(len, shards)), dataset_size=dataset.data.nbytes)
    DatasetInfosDict({"default": info}).to_dataset_card_data(card_data)
    MetadataConfigs({"default": {"data_files": [{"split": "train", "path": "data/train-*"}]}}
                    ).to_dataset_card_data(card_data)
    facts = [
        ("run", _md(prov["run"])), ("pool", _md(prov["pool"])),
        ("pool rows", prov["pool_rows"]),
        ("pool fingerprint", f"`{prov['pool_fingerprint']}`"),
        ("selectors", _md(", ".join(prov["selectors"]))),
        ("selector parameters", _code(json.dumps(prov["params"], sort_keys=True))),
        ("budgets", "; ".join(_budget(b) for b in prov["budgets"])),
        ("seeds", ", ".join(map(str, prov["seeds"]))),
        ("subset rows", prov["subset_rows"]),
        ("subset fingerprint", f"`{prov['subset_fingerprint']}` (sha256 of the ids, in order)"),
        ("synthetic share", f"{prov['synthetic_share']:.2%} ({prov['synthetic_rows']} rows)"),
        ("curate version", prov["curate_version"]),
    ]
    counts = [(_md(selector or "-"), n) for selector, n in prov["per_selector"].items()]
    counts += [(f"{_md(generator)} (synthetic)", n)
               for generator, n in prov["per_generator"].items()]
    lines = [
        f"# {name}", "",
        f"{prov['subset_rows']} rows chosen by curate from {_md(prov['pool'])} "
        f"({f['read'] if (f := prov['funnel']) else prov['pool_rows']} rows).",
        # The rows read, dropped and selected (the funnel), and the run's warnings about them.
        *(["", f"Rows, step by step: {_code(f['line'])}", "",
           *(f"- warning: {_md(w)}" for w in f["warnings"])] if f else []), "",
        "```python", "from datasets import load_dataset", "",
        f'dataset = load_dataset("{repo}", split="train")', "```", "",
        "## Provenance", "", "| | |", "|---|---|",
        *(f"| {key} | {value} |" for key, value in facts), "",
        "Rows per selector:", "", "| selector | rows |", "|---|---|",
        *(f"| {key} | {value} |" for key, value in counts), "",
        "`selection.parquet` lists every chosen id with its selector and reason; "
        "`config.yaml` is the run's resolved config.",
        *(["", "## Citation", "", f"The selection method: {_md(prov['citation'])}"]
          if prov["citation"] else []),
    ]
    body = "\n".join(lines)
    return str(DatasetCard(f"---\n{card_data.to_yaml()}\n---\n\n{body}\n")).encode()


# The Hub's task_categories for the hand-off task (train/handoff.py task_of) and modality.
TASK_CATEGORIES = {("classification", "text"): "text-classification",
                   ("classification", "image"): "image-classification",
                   ("classification", "vectors"): "tabular-classification",
                   ("language-modeling", "text"): "text-generation",
                   ("prompt-completion", "text"): "text-generation"}
# Builtin datasets whose language is known (all English).
LANGUAGES = {"builtin:wordnet": "en", "builtin:bbc-news": "en", "builtin:chatterbot": "en"}
# Selectors whose module names no reference.
CITATIONS = {
    "probcover": 'Yehuda, Dekel, Hacohen, Weinshall. "Active Learning Through a Covering '
                 'Lens." NeurIPS 2022.',
    "ot": 'Kang et al. "Get more for less: Principled Data Selection for Warming Up '
          'Fine-Tuning in LLMs." ICLR 2024 (GOT-D).',
    "kcenter": 'Sener, Savarese. "Active Learning for Convolutional Neural Networks: A '
               'Core-Set Approach." ICLR 2018.',
    "random": None, "kmeans-nearest": None,
}


def citation(selector: str) -> str | None:
    """The reference of a selector: its module's `References:` section, or CITATIONS."""
    import inspect

    from curate.selectors import available

    if selector in CITATIONS:
        return CITATIONS[selector]
    cls = available().get(selector)
    doc = inspect.getmodule(cls).__doc__ if cls is not None else None
    if not doc or "References:" not in doc:
        return None
    text = doc.split("References:", 1)[1].strip()
    return " ".join(text.split()) or None


def exported_columns(subset_columns: list[str], data: dict) -> list[str]:
    """The user's columns of the subset: curate's bookkeeping left out, and `id` too when
    it only repeats the user's own id column (data.id_column)."""
    own_id = data.get("id_column") not in (None, "id")
    return [c for c in subset_columns
            if c not in BOOKKEEPING and not (c == "id" and own_id)]


def public_config(config: dict) -> bytes:
    """The resolved config with local paths reduced to their last part (a repo is public,
    the layout of the user's disk is not)."""
    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, str) and value.startswith(("/", "~", "./", "../")):
            return Path(value).name
        return value

    data = dict(config.get("data") or {})
    if data.get("path"):
        data["path"] = Path(data["path"]).name
    return yaml.safe_dump(clean({**config, "data": data}), sort_keys=False).encode()


def export_files(run_dir: Path, repo: str, settings: ExportConfig) -> dict[str, bytes]:
    """Path in the repo -> content, for everything the export uploads."""
    import datasets

    run_dir = Path(run_dir)
    datasets.disable_progress_bars()
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    dataset = datasets.load_from_disk(str(run_dir / "subset" / "dataset"))
    if SELECTOR not in dataset.column_names:  # its `selector`, `source`... may be the user's
        raise CurateError(f"{run_dir} was written by an older curate (no {SELECTOR} column)",
                          "run the config again to write a new run folder")
    dataset = dataset.select_columns(exported_columns(dataset.column_names, config["data"]))
    shards = _shards(dataset, settings.max_shard_size)
    files = {f"data/train-{i:05d}-of-{len(shards):05d}.parquet": shard
             for i, shard in enumerate(shards)}
    prov = provenance(run_dir, pl.read_parquet(run_dir / "subset" / "subset.parquet"))
    files["README.md"] = _card(repo, dataset, shards, prov, settings.license)
    files["selection.parquet"] = (run_dir / "selection.parquet").read_bytes()
    files["config.yaml"] = public_config(config)
    return files


def write_folder(files: dict[str, bytes], folder: Path) -> None:
    """Exactly the files a push would upload, under `folder` (created, all or nothing)."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise CurateError(f"{folder} exists and is not empty", "give --dry-run a new folder")
    with atomic_path(folder) as tmp:
        for path, content in files.items():
            (tmp / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp / path).write_bytes(content)


def push(files: dict[str, bytes], repo: str, private: bool, message: str) -> str:
    """Create the dataset repo if needed and upload `files` in one commit; returns its URL."""
    import huggingface_hub
    from huggingface_hub import CommitOperationAdd, HfApi

    if huggingface_hub.constants.is_offline_mode():
        raise CurateError("HF_HUB_OFFLINE is set, so nothing can be pushed",
                          "unset it, or write the files locally with --dry-run DIR")
    token = huggingface_hub.get_token()
    if not token:
        raise CurateError("no Hugging Face token", "set HF_TOKEN or run `hf auth login`")
    api = HfApi(token=token)
    try:
        api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
        commit = api.create_commit(
            repo, [CommitOperationAdd(path, content) for path, content in files.items()],
            commit_message=message, repo_type="dataset")
    except _network_errors() as err:
        detail = str(err).splitlines()[0] if str(err) else err.__class__.__name__
        # A server message could echo the header; the token must never reach a log.
        raise CurateError(f"push to {repo} failed: {detail.replace(token, '***')}",
                          "check the token's write access and the network; nothing was "
                          "committed") from None
    return commit.commit_url


def _network_errors() -> tuple[type[Exception], ...]:
    """What a push can raise for a network or server fault: HfHubHTTPError and offline
    errors are OSErrors; a connection refused or timed out is the HTTP client's own error
    (httpx2 in huggingface_hub 2, httpx in 1), which is not."""
    import importlib

    errors: list[type[Exception]] = [OSError]
    for module in ("httpx2", "httpx"):
        try:
            errors.append(importlib.import_module(module).HTTPError)
        except ImportError:
            continue
    return tuple(errors)


MANIFEST_KEYS = {"pool": ("rows", "fingerprint"), "subset": ("fingerprint",), "selector": (),
                 "params": (), "budget": (), "seed": (), "versions": ()}


def run_manifest(run_dir: Path) -> dict:
    """The run's manifest.json, checked for what export reads from it."""
    path = Path(run_dir) / "manifest.json"
    try:
        manifest = read_json(path)
        missing = [f"{key}.{sub}" if sub else key for key, subs in MANIFEST_KEYS.items()
                   for sub in (subs or ("",)) if key not in manifest
                   or (sub and sub not in manifest[key])]
    except (ValueError, TypeError) as err:  # JSONDecodeError and UnicodeDecodeError too
        missing = [type(err).__name__]
    if missing:
        raise CurateError(f"{path} is damaged (missing or unreadable: {', '.join(missing)})",
                          "run the config again to write a new run folder")
    return manifest


def export_run(run_dir: Path, repo: str | None = None, private: bool = False,
               dry_run: Path | None = None) -> str:
    """Export `run_dir` (flags over the run's `export` section); returns where it went."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    run_dir = Path(run_dir)
    if not all((run_dir / name).is_file() for name in ("config.yaml", "manifest.json")):
        raise CurateError(f"{run_dir} is not a run folder (no config.yaml and manifest.json)",
                          "pass a folder that `curate run` wrote: runs/<name>/<timestamp>")
    if not (run_dir / "handoff.json").is_file():  # the last file a run writes
        raise CurateError(f"{run_dir} is an incomplete run folder (no handoff.json)",
                          "rerun the config; a run's cache makes that quick")
    manifest = run_manifest(run_dir)
    try:
        raw = yaml.safe_load((run_dir / "config.yaml").read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise CurateError(f"{run_dir / 'config.yaml'} is damaged ({type(err).__name__})",
                          "run the config again to write a new run folder") from None
    settings = parse_config(raw if isinstance(raw, dict) else {}).export
    repo = settings.repo if repo is None else repo
    if not repo or "/" not in repo:
        raise CurateError(f"export needs a Hub repo as USER/NAME, got {repo!r}",
                          "pass --repo USER/NAME or set export.repo")
    try:
        validate_repo_id(repo)
    except HFValidationError as err:
        raise CurateError(f"invalid repo id {repo!r}: {err}", "use USER/NAME") from None
    files = export_files(run_dir, repo, settings)
    if dry_run is not None:
        write_folder(files, dry_run)
        return str(dry_run)
    fingerprint = manifest["subset"]["fingerprint"]
    return push(files, repo, private or settings.private,
                f"curate subset {fingerprint[:12]} ({run_dir.parent.name}/{run_dir.name})")
