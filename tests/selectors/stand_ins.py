"""Stand-ins for the LM scores (`curate.scoring.lm_scores`) on vector-only test pools.

The select stage computes LM scores for prompt/response pools; the tests that run every
selector use vectors alone, so a selector whose parameters name an LM score gets keyed
stand-in values: from the row ids (a per-label subset or a shard sees the same values),
with ties, and ifd on both sides of 1."""

import numpy as np

from curate.exec.keys import id_hashes
from curate.scoring.lm_scores import lm_scores_named
from curate.selectors import SelectionView, Selector


def lm_stand_ins(ids: np.ndarray, selector: Selector) -> dict[str, np.ndarray]:
    values = (id_hashes(ids) % np.uint64(97)).astype(np.float64)
    return {name: values / 80 if name == "ifd" else values
            for name in lm_scores_named(selector.get_params())}


def with_lm_stand_ins(view: SelectionView, selector: Selector) -> SelectionView:
    for name, values in lm_stand_ins(view.ids, selector).items():
        view.scores.setdefault(name, values)
    return view
