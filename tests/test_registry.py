"""The one registry shape (curate/registry.py), on a toy package, and its two instances."""

import sys
import textwrap

import pytest

from curate.errors import CurateError
from curate.registry import code_fingerprint

TOY_INIT = '''
from curate.registry import Registry


class Part:
    """The toy kind's base class."""


PARTS = Registry("part", Part, package="toyparts", entry_point_group="curate.toy-parts",
                 setting="parts.params", contract="run()")
'''

TOY_ALPHA = '''
from curate.params import Interval, constraints
from toyparts import PARTS, Part


@PARTS.register
class Alpha(Part):
    name = "alpha"
    parameter_constraints = constraints(size=Interval(int, 1, None))

    def __init__(self, size: int = 2):
        self.size = size


class Unnamed(Part):
    def __init__(self):
        pass
'''


@pytest.fixture
def toy(tmp_path, monkeypatch):
    package = tmp_path / "toyparts"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent(TOY_INIT))
    (package / "alpha.py").write_text(textwrap.dedent(TOY_ALPHA))
    (package / "beta.py").write_text(
        "from toyparts import PARTS, Part\n\n\n@PARTS.register\nclass Beta(Part):\n"
        "    name = 'beta'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield __import__("toyparts").PARTS
    for module in [m for m in sys.modules if m.split(".")[0] == "toyparts"]:
        del sys.modules[module]


def test_modules_of_the_package_register_on_first_lookup(toy):
    assert toy.entries == {}
    assert list(toy.available()) == ["alpha", "beta"]
    assert toy.lookup("beta").__name__ == "Beta"


def test_make_checks_names_parameters_and_values(toy):
    assert toy.make("alpha", {"size": 3}).size == 3
    with pytest.raises(CurateError, match=r"unknown part 'alpah'; did you mean 'alpha'\? valid "
                                          r"parts \(or package.module:Class\): alpha, beta"):
        toy.make("alpah")
    with pytest.raises(CurateError, match="part 'alpha' has no parameter 'sise'"):
        toy.make("alpha", {"sise": 3})
    with pytest.raises(CurateError) as caught:
        toy.make("alpha", {"size": 0})
    assert str(caught.value) == ("part 'alpha': size=0 is not an integer in [1, inf); change "
                                 "parts.params.size, or leave it out for the default (2)")


def test_dotted_paths_lazy_entries_and_duplicate_names(toy):
    unnamed = toy.make("toyparts.alpha:Unnamed")
    assert unnamed.name == "toyparts.alpha:Unnamed"  # a dotted-path class is named by its path
    assert toy.make("toyparts.alpha:Alpha", {"size": 5}).size == 5
    with pytest.raises(CurateError, match=r"toyparts.alpha has no 'Alfa'; did you mean "
                                          r"'toyparts.alpha:Alpha'\?"):
        toy.lookup("toyparts.alpha:Alfa")
    with pytest.raises(CurateError, match=r"is not a toyparts.Part subclass; subclass Part "
                                          r"and implement run\(\)"):
        toy.lookup("toyparts.alpha:constraints")
    toy.entries["gamma"] = "toyparts.alpha:Alpha"  # loaded when first used
    assert toy.lookup("gamma").__name__ == "Alpha"
    alpha = toy.lookup("alpha")
    with pytest.raises(ValueError, match="part name 'alpha' registered twice"):
        toy.register(type("Alpha2", (alpha,), {"name": "alpha"}))


def test_selectors_and_generators_are_two_instances():
    from curate.selectors import registry as selectors
    from curate.synth import registry as generators

    assert (selectors.REGISTRY.entry_point_group, generators.REGISTRY.entry_point_group) == (
        "curate.selectors", "curate.generators")
    assert selectors._REGISTRY is selectors.REGISTRY.entries
    assert generators.GENERATORS is generators.REGISTRY.entries
    assert selectors.make_selector("kmq").temperature == 1.0
    assert generators.generator_class("mh-gan").__name__ == "MhGanGenerator"
    with pytest.raises(CurateError, match=r"unknown generator 'mh-gam'; did you mean 'mh-gan'"):
        generators.make_generator("mh-gam")


def test_code_fingerprint_only_for_outside_code(toy):
    assert code_fingerprint(type(toy)) is None  # curate's own
    fingerprint = code_fingerprint(toy.lookup("alpha"))
    assert fingerprint is not None and len(fingerprint) == 16
