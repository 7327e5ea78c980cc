"""The stages of a curation run as plain functions over artifact references.

Each stage reads references (paths plus content keys), writes its output into the
content-addressed cache through `curate.store.cached_stage`, and returns a small
`StageRef`. Prefect tasks wrap these functions unchanged (`curate/flows/`); `curate select`
calls them directly; `curate.run` writes their order once.
"""

from curate.stages.pool import (
    PoolRef,
    cluster_stage,
    dedup_stage,
    embed_stage,
    load_stage,
    target_embeddings,
)
from curate.stages.select import SelectionRef, select_stage, sharded_pool
from curate.stages.subset import TableRef, assemble_stage, subset_frame, synthesize_stage

__all__ = ["PoolRef", "SelectionRef", "TableRef", "assemble_stage", "cluster_stage",
           "dedup_stage", "embed_stage", "load_stage", "select_stage",
           "sharded_pool", "subset_frame", "synthesize_stage", "target_embeddings"]
