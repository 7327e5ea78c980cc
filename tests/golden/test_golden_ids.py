"""Golden ids: what every registered selector picks on small labelled and unlabelled pools,
and what `configs/demo.yaml` picks on a seeded 5,000-row WordNet sample.

Written before the architecture step (issue 23) so a refactor that should change nothing
can show that it changed nothing. `golden_ids.json` is the record; to re-record it after a
change that is meant to change picks, run with CURATE_WRITE_GOLDEN=1 and say why in the
commit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from curate.budget import resolve_budget
from curate.selectors import available, make_selector
from tests.conftest import unit_rows
from tests.selectors.helpers import view_of
from tests.selectors.stand_ins import with_lm_stand_ins

GOLDEN = Path(__file__).with_name("golden_ids.json")
WRITE = os.environ.get("CURATE_WRITE_GOLDEN") == "1"
SELECTORS = sorted(available())
# (pool, budget spec): a whole-pool budget on the unlabelled pool; a fraction and a
# per-label budget on the labelled one, so both the global and the per-label paths count.
CASES = [("unlabelled", 37), ("labelled", "5%"), ("labelled", "4 per label")]


def _record() -> dict:
    return json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}


def _check(name: str, ids: list[str]) -> None:
    record = _record()
    if WRITE:
        record[name] = ids
        GOLDEN.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        return
    assert name in record, f"no golden ids for {name}: record them with CURATE_WRITE_GOLDEN=1"
    assert ids == record[name]


def _pool(kind: str):
    """240 rows in 8 uneven, overlapping blobs (24-d) and a quality score; labels that cut
    across the blobs, so per-label clustering differs from the global one."""
    rng = np.random.default_rng(23)
    centres = rng.normal(size=(8, 24))
    blob = rng.integers(0, 8, size=240)
    x = unit_rows(centres[blob] + rng.normal(scale=0.6, size=(240, 24)))
    labels = np.array(["a", "b", "c", "d"])[(blob + rng.integers(0, 2, size=240)) % 4]
    scores = {"quality": rng.random(240)}
    return view_of(x, k=8, labels=labels if kind == "labelled" else None, scores=scores)


@pytest.mark.parametrize(("kind", "spec"), CASES)
@pytest.mark.parametrize("name", SELECTORS)
def test_selector_ids_unchanged(name, kind, spec):
    selector = make_selector(name)
    view = with_lm_stand_ins(_pool(kind), selector)  # only selectors naming an LM score
    budget = resolve_budget(spec, len(view), view.labels)
    table = selector.select(view, budget, seed=7)
    _check(f"{name}|{kind}|{spec}", table["id"].to_list())


@pytest.mark.slow
def test_demo_config_ids_unchanged(tmp_path):
    """The demo's selection (auto, 2% per label, MiniLM) on a seeded 5k WordNet sample."""
    from curate.config_load import load_config
    from curate.run import run_curation

    config = Path(__file__).parents[2] / "configs" / "demo.yaml"
    cfg = load_config(config, False, ("data.sample=5000", f"output.cache_dir={tmp_path}/cache",
                                      "train.mode=spec"))
    run_dir = run_curation(cfg, tmp_path / "runs")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    subset = pl.read_parquet(run_dir / "subset" / "subset.parquet")
    assert subset.height == manifest["budget"]["total"]
    _check("demo.yaml|wordnet sample 5000", subset["id"].to_list())
