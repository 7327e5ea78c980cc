"""The parameter checks every selector and generator goes through (our twin of scikit-learn's
`check_param_validation`): constraints declared for exactly the `__init__` parameters,
defaults that satisfy them, and a one-line CurateError naming the parameter for every value
a constraint refuses."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable

import pytest

from curate.errors import CurateError
from curate.params import alternatives, invalid_values, satisfies


def init_defaults(cls: type) -> dict:
    return {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values()
            if p.name != "self"}


def check_declared_for_every_parameter(cls: type) -> None:
    assert set(cls.parameter_constraints) == set(init_defaults(cls)), (
        f"{cls.__name__}.parameter_constraints must name exactly its __init__ parameters")


def check_defaults_satisfy_constraints(cls: type) -> None:
    for param, default in init_defaults(cls).items():
        assert satisfies(default, cls.parameter_constraints[param]), (param, default)


def check_invalid_values_refused(make: Callable, kind: str, name: str, cls: type) -> None:
    """Each value derived from a constraint (wrong type, below low, above high, unknown
    option) is refused when the object is built, naming the parameter, the value and what
    is allowed."""
    for param, spec in cls.parameter_constraints.items():
        values = invalid_values(spec)
        assert values, f"{param}: its constraint refuses no value to test with"
        allowed = " or ".join(c.describe() for c in alternatives(spec))
        for value in values:
            message = f"{kind} '{name}': {param}={value!r} is not {allowed}; "
            with pytest.raises(CurateError, match=re.escape(message)) as caught:
                make(name, {param: value})
            assert "\n" not in str(caught.value)
