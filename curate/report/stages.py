"""The report's facts in words: each stage's counts as a sentence (the manifest keeps them
as numbers and dicts), and the embedding model and precision that made the vectors."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from curate.store import MANIFEST, read_json

if TYPE_CHECKING:
    from curate.report.artifacts import RunArtifacts

STAGE_ORDER = ("load", "dedup", "embed", "cluster", "select", "synthesize", "assemble")
BOOKKEEPING = {"seconds", "cache_hit", "key", "artifact"}
# A stage's count -> its words; "{}" takes the number. Others read "name: value".
PHRASES = {
    "rows_in": "{} rows in", "rows_out": "{} rows out", "rows_new": "{} rows embedded",
    "rows_cached": "{} rows from the cache", "exact": "{} exact duplicates",
    "near": "{} near duplicates", "label_conflicts": "{} duplicates with another label",
    "synthetic": "{} synthetic rows", "rows_dropped": "dropped: {}",
}
# Settings a stage repeats beside its counts; the config section holds them.
SETTINGS = {"exact_on", "keep", "near_threshold"}


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:,}"
    if isinstance(value, dict):
        return ", ".join(f"{_value(v)} {k.replace('_', ' ')}" for k, v in value.items()) \
            or "none"
    if isinstance(value, list | tuple):
        return ", ".join(_value(v) for v in value) or "none"
    return str(value)


def stage_text(stats: dict) -> str:
    """A stage's counts as one readable line: `3,484 rows embedded; 0 rows from the cache`."""
    words = []
    for key, value in stats.items():
        if key in BOOKKEEPING or key in SETTINGS or value is None:
            continue
        phrase = PHRASES.get(key)
        words.append(phrase.format(_value(value)) if phrase
                     else f"{key.replace('_', ' ')}: {_value(value)}")
    return "; ".join(words)


def stage_rows(manifest: dict) -> list[dict]:
    """One row per stage: time, cache hit and the stage's own counts, in words."""
    stages = manifest.get("stages", {})
    order = [s for s in STAGE_ORDER if s in stages] + [s for s in stages if s not in STAGE_ORDER]
    return [{"name": name, "seconds": stages[name].get("seconds"),
             "cache_hit": stages[name].get("cache_hit"), "counts": stage_text(stages[name])}
            for name in order]


def embedding_model(art: RunArtifacts) -> str | None:
    """What made the vectors: the model, its pooling and length, and the precision it ran
    at (as the embed stage's entry recorded them), or the data's own vector column."""
    where = art.manifest.get("stages", {}).get("embed", {}).get("artifact")
    if not where:
        return None
    meta = read_json(Path(where) / MANIFEST)
    encoder, ran = meta.get("encoder") or {}, meta.get("ran") or {}
    if "vectors" in encoder:
        return f"none: the data's own vectors (column {encoder['vectors']})"
    if "image_features" in encoder:
        return f"image features: {encoder['image_features']}"
    if "static" in ran:
        return f"{encoder.get('model')}: static embeddings ({_value(ran['static'])})"
    model, _, weights = str(encoder.get("model")).partition("@")
    text = model + (f" (weights {weights})" if weights else "")
    text += "".join(f", {v} {k.replace('_', ' ')}" for k, v in encoder.items()
                    if k in ("pooling", "max_length") and v is not None)
    if ran.get("precision"):
        text += f"; precision {ran['precision']} on {ran.get('device', '?')}"
        text += f" (asked {ran['asked']}" + (f"; rule {ran['rule']}" if ran.get("rule") else "") \
            + ")" if ran.get("asked") else ""
    elif encoder.get("precision"):
        text += f"; {encoder['precision']}"
    return text
