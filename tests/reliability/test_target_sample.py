"""target.sample is drawn from the rows target.labels keeps: before, the sample was drawn
from the whole target file and then filtered, so a small sample of one label of many came
up empty ("no target rows have labels ...")."""

import numpy as np

from curate.config_load import parse_config
from curate.stages.pool import target_embeddings
from curate.store import ArtifactCache
from tests.reliability.helpers import vector_pool


def test_a_target_sample_comes_from_the_kept_labels(tmp_path):
    labels = [f"c{i % 10}" for i in range(200)]  # 20 rows a label
    path = vector_pool(tmp_path / "target.parquet", rows=200, labels=labels)
    target = {"path": str(path), "vector_column": "vec", "label_column": "label",
              "labels": ["c3"]}
    cfg = parse_config({"data": {"path": str(path), "vector_column": "vec"},
                        "target": {**target, "sample": 5}})
    vectors = target_embeddings(cfg, ArtifactCache(tmp_path / "cache"))
    assert len(vectors) == 5
    whole = target_embeddings(parse_config({"data": {"path": str(path), "vector_column": "vec"},
                                            "target": target}), ArtifactCache(tmp_path / "c2"))
    assert len(whole) == 20
    # the sample is 5 of the 20 c3 rows
    assert all(np.isclose(np.linalg.norm(whole - v, axis=1), 0, atol=1e-5).any()
               for v in vectors)
