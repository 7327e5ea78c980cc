"""The generator interface and registry, with a toy generator that jitters real rows."""

import numpy as np
import polars as pl
import pytest

from curate.config import DataConfig
from curate.data import Pool, Schema, load_pool
from curate.errors import CurateError
from curate.synth import GENERATORS, Generator, make_generator
from curate.synth.base import SYNTH_COLUMNS, vector_column, vector_rows
from curate.synth.registry import available
from tests.constraint_checks import (
    check_declared_for_every_parameter,
    check_defaults_satisfy_constraints,
    check_invalid_values_refused,
)

GENERATORS_REGISTERED = sorted(available())


class JitterGenerator(Generator):
    """Each synthetic row is a real row of the label plus noise; its parent is that row."""

    name = "jitter"
    modalities = ("image", "vectors")

    def __init__(self, scale: float = 0.1):
        self.scale = scale

    def _fit(self, real, pool, seed, services):
        self.x_ = vector_rows(real)
        self.y_ = real.labels()
        self.ids_ = real.ids

    def _generate(self, label, n, rng, filtered):
        rows = rng.choice(np.flatnonzero(self.y_ == label), size=n)
        x = np.clip(self.x_[rows] + rng.normal(0, self.scale, self.x_[rows].shape), 0, 1)
        return pl.DataFrame({self.schema_.image or self.schema_.vectors:
                             vector_column(x, self.schema_.modality),
                             "parent_id": self.ids_[rows], "reason": ["jitter"] * n})


@pytest.fixture
def toy_registered(monkeypatch):
    monkeypatch.setitem(GENERATORS, "jitter", "tests.synth.test_base:JitterGenerator")


@pytest.fixture(scope="module")
def digits() -> Pool:
    pool = load_pool(DataConfig(source="builtin:digits"))
    return Pool(frame=pool.frame.head(200), schema=pool.schema, origin=pool.origin)


def test_generated_rows_have_ids_source_parents_and_pool_dtypes(toy_registered, digits):
    gen = make_generator("jitter", {"scale": 0.05}).fit(digits, seed=0)
    rows = gen.generate({"1": 3, "7": 2}, seed=4)
    assert rows.columns == [*SYNTH_COLUMNS, "pixels", "label"]
    assert rows.schema["pixels"] == digits.frame.schema["pixels"]
    assert rows["label"].to_list() == ["1"] * 3 + ["7"] * 2
    assert (rows["source"] == "jitter").all() and rows["id"].str.starts_with("synth-").all()
    parents = digits.frame.filter(pl.col("id").is_in(rows["parent_id"].to_list()))
    assert set(parents["label"]) == {"1", "7"}
    again = make_generator("jitter", {"scale": 0.05}).fit(digits, seed=0).generate(
        {"1": 3, "7": 2}, seed=4)
    assert again.equals(rows)  # seeded: same rows, same ids
    other = gen.generate({"1": 3, "7": 2}, seed=5)
    assert not set(other["id"]) & set(rows["id"])


def test_interface_errors(toy_registered, digits):
    with pytest.raises(CurateError, match="did you mean 'jitter'"):
        make_generator("jiter")
    with pytest.raises(CurateError, match="no parameter 'sigma'"):
        make_generator("jitter", {"sigma": 1})
    gen = make_generator("jitter").fit(digits)
    with pytest.raises(CurateError, match="never saw label 'cat'"):
        gen.generate({"cat": 1}, seed=0)
    texts = Pool(frame=pl.DataFrame({"id": ["a"], "text": ["x"], "label": ["l"]}),
                 schema=Schema(text="text", label="label"), origin="t")
    with pytest.raises(CurateError, match="cannot make text rows"):
        make_generator("jitter").fit(texts)


def test_the_builtin_generators_are_registered():
    assert GENERATORS_REGISTERED == ["bob-diffusion", "bob-text", "mh-gan"]


@pytest.mark.parametrize("name", GENERATORS_REGISTERED)
def test_parameter_constraints_cover_every_parameter_and_default(name):
    cls = available()[name]
    check_declared_for_every_parameter(cls)
    check_defaults_satisfy_constraints(cls)


@pytest.mark.parametrize("name", GENERATORS_REGISTERED)
def test_invalid_parameter_values_are_refused_when_built(name):
    check_invalid_values_refused(make_generator, "generator", name, available()[name])


def test_a_number_yaml_read_as_text_gets_its_own_hint():
    with pytest.raises(CurateError, match=r"lr='1e-4' is not in \(0, inf\); write "
                                          r"synth.params.lr as a number"):
        make_generator("bob-diffusion", {"lr": "1e-4"})


def test_a_generator_by_dotted_path_without_declared_constraints():
    gen = make_generator("tests.synth.test_base:JitterGenerator", {"scale": 0.05})
    assert gen.name == "jitter" and gen.scale == 0.05
    with pytest.raises(CurateError, match=r"is not a curate\.synth\.base\.Generator subclass"):
        make_generator("tests.synth.test_base:digits")
