"""What values a selector's or a generator's parameters may take, declared once per class.

A class lists one constraint per `__init__` parameter in `parameter_constraints`; the
registry checks the parameters a user gives when it builds the object, before any data is
read, so `temperature: 0` fails as one line naming the parameter, the value and what is
allowed, not as a division by zero deep inside a run. The idea is scikit-learn's
(`sklearn/utils/_param_validation.py`: `Interval`, `StrOptions`,
`validate_parameter_constraints`), written small:

    parameter_constraints = constraints(
        temperature=Interval(float, 0, None, closed="neither"),  # (0, inf)
        quality=[None, Text()],                                  # None or a score name
        calibration=Options("logistic", "isotonic"),
    )

A constraint is one of the classes below, or a list of them where `None` allows None.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from curate.errors import CurateError


class Constraint:
    """One kind of allowed value. `describe` completes "x is not ..."; `invalid_values`
    gives values it refuses, for the conformance test (a wrong type, each side of a range)."""

    def accepts(self, value: Any) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def invalid_values(self) -> list:
        raise NotImplementedError


class Interval(Constraint):
    """A number between `low` and `high` (None: unbounded, and the end is open). `closed`:
    which finite ends belong to it, "both", "left", "right" or "neither". `kind` int asks
    for an integer (not a bool, not 3.0); float takes any real number but NaN."""

    def __init__(self, kind: type, low: float | None, high: float | None,
                 closed: str = "both"):
        if kind not in (int, float) or closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"Interval({kind!r}, closed={closed!r})")
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def accepts(self, value: Any) -> bool:
        wanted = numbers.Integral if self.kind is int else numbers.Real
        if isinstance(value, bool) or not isinstance(value, wanted) or math.isnan(value):
            return False
        left_closed, right_closed = (self.closed in ("both", "left"),
                                     self.closed in ("both", "right"))
        above = (self.low is None and value > -math.inf) or (
            self.low is not None and (value >= self.low if left_closed else value > self.low))
        below = (self.high is None and value < math.inf) or (
            self.high is not None and (value <= self.high if right_closed else value < self.high))
        return above and below

    def describe(self) -> str:
        left = "[" if self.closed in ("both", "left") and self.low is not None else "("
        right = "]" if self.closed in ("both", "right") and self.high is not None else ")"
        span = (f"{left}{'-inf' if self.low is None else _number(self.low)}, "
                f"{'inf' if self.high is None else _number(self.high)}{right}")
        return f"an integer in {span}" if self.kind is int else f"in {span}"

    def invalid_values(self) -> list:
        step = 1 if self.kind is int else 0.5
        values: list = ["1", math.nan if self.kind is float else 1.5]
        for end, outward, is_closed in ((self.low, -step, self.closed in ("both", "left")),
                                        (self.high, step, self.closed in ("both", "right"))):
            if end is not None:
                values.append(end + outward if is_closed else end)
            elif self.kind is float:
                values.append(math.copysign(math.inf, outward))
        return values


class Options(Constraint):
    """One of the listed values (strings, usually)."""

    def __init__(self, *values: Any):
        self.values = values

    def accepts(self, value: Any) -> bool:
        return not isinstance(value, bool) and any(
            type(value) is type(v) and value == v for v in self.values)

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)

    def invalid_values(self) -> list:
        return ["not-an-option", 3]


class Text(Constraint):
    """A string: a score or column name, a model path or id, a prompt template."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)

    def describe(self) -> str:
        return "a string"

    def invalid_values(self) -> list:
        return [3, ["a"]]


class TextList(Constraint):
    """A list of strings (column names)."""

    def accepts(self, value: Any) -> bool:
        return (isinstance(value, Sequence) and not isinstance(value, str)
                and all(isinstance(v, str) for v in value))

    def describe(self) -> str:
        return "a list of strings"

    def invalid_values(self) -> list:
        return ["a", [1]]


class Boolean(Constraint):
    """True or False (not 1, not "yes")."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)

    def describe(self) -> str:
        return "true or false"

    def invalid_values(self) -> list:
        return [1, "yes"]


class Function(Constraint):
    """A callable (set from Python; a config cannot give one)."""

    def accepts(self, value: Any) -> bool:
        return callable(value)

    def describe(self) -> str:
        return "a callable"

    def invalid_values(self) -> list:
        return ["module:function", 3]


class _NoneAllowed(Constraint):
    def accepts(self, value: Any) -> bool:
        return value is None

    def describe(self) -> str:
        return "None"

    def invalid_values(self) -> list:
        return []


def constraints(**by_parameter: Any) -> Mapping[str, Any]:
    """A class's `parameter_constraints`: parameter name -> constraint, read-only (a
    malformed constraint fails when the class is defined)."""
    for spec in by_parameter.values():
        alternatives(spec)
    return MappingProxyType(by_parameter)


def alternatives(spec: Any) -> list[Constraint]:
    """A declared constraint as its list of alternatives (None -> None allowed)."""
    items = spec if isinstance(spec, list | tuple) else [spec]
    found = [_NoneAllowed() if item is None else item for item in items]
    if not found or not all(isinstance(c, Constraint) for c in found):
        raise TypeError(f"not a parameter constraint: {spec!r}")
    return found


def satisfies(value: Any, spec: Any) -> bool:
    return any(c.accepts(value) for c in alternatives(spec))


def invalid_values(spec: Any) -> list:
    """Values that no alternative of `spec` accepts (each alternative's invalid values)."""
    return [v for c in alternatives(spec) for v in c.invalid_values() if not satisfies(v, spec)]


def check_params(cls: type, params: dict, owner: str, setting: str) -> None:
    """Raise a one-line CurateError for the first of `params` its class's
    `parameter_constraints` refuses. `owner` names the object ("selector 'kmq'"),
    `setting` the config section its parameters come from ("select.params")."""
    constraints = getattr(cls, "parameter_constraints", None) or {}
    defaults = _defaults(cls)
    for name, value in params.items():
        if name not in constraints or satisfies(value, constraints[name]):
            continue
        allowed = " or ".join(c.describe() for c in alternatives(constraints[name]))
        fix = f"change {setting}.{name}, or leave it out for the default"
        if name in defaults:
            fix += f" ({defaults[name]!r})"
        if isinstance(value, str) and _is_number(value) and any(
                isinstance(c, Interval) for c in alternatives(constraints[name])):
            fix = (f"write {setting}.{name} as a number (YAML reads 1e-4 as text; "
                   "write 1.0e-4)")
        raise CurateError(f"{owner}: {name}={value!r} is not {allowed}", fix)


def _defaults(cls: type) -> dict:
    return {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values()
            if p.default is not p.empty}


def _number(value: float) -> str:
    return repr(int(value)) if float(value).is_integer() else repr(value)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
