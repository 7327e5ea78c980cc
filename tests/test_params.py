"""Parameter constraints (curate/params.py): what each kind accepts and how a refusal reads."""

import math

import numpy as np
import pytest

from curate.errors import CurateError
from curate.params import (
    Boolean,
    Function,
    Interval,
    Options,
    Text,
    TextList,
    check_params,
    constraints,
    invalid_values,
    satisfies,
)


def test_interval_ends_types_and_description():
    open_above_zero = Interval(float, 0, None, closed="neither")
    assert open_above_zero.describe() == "in (0, inf)"
    assert [open_above_zero.accepts(v) for v in (1e-9, 3, np.float32(2.5))] == [True] * 3
    assert not any(open_above_zero.accepts(v) for v in (0, -1, math.inf, math.nan, True, "1"))
    fraction = Interval(float, 0, 1, closed="right")
    assert fraction.describe() == "in (0, 1]"
    assert fraction.accepts(1) and not fraction.accepts(0) and not fraction.accepts(1.01)
    count = Interval(int, 1, None)
    assert count.describe() == "an integer in [1, inf)"
    assert count.accepts(1) and count.accepts(np.int64(5))
    assert not any(count.accepts(v) for v in (0, 2.0, True, "3"))
    assert Interval(float, -1, 1).describe() == "in [-1, 1]"
    with pytest.raises(ValueError):
        Interval(float, 0, 1, closed="open")


def test_options_text_lists_booleans_functions():
    calibration = Options("logistic", "isotonic")
    assert calibration.accepts("isotonic") and not calibration.accepts("Isotonic")
    assert calibration.describe() == "one of 'logistic', 'isotonic'"
    assert Options(1, 2).accepts(2) and not Options(1, 2).accepts(True)
    assert Text().accepts("influence") and not Text().accepts(3)
    assert TextList().accepts(["a", "b"]) and TextList().accepts([])
    assert not TextList().accepts("ab") and not TextList().accepts(["a", 1])
    assert Boolean().accepts(False) and not Boolean().accepts(0) and not Boolean().accepts("no")
    assert Function().accepts(len) and not Function().accepts("module:function")


def test_none_in_a_list_allows_none_and_invalid_values_never_satisfy():
    spec = [None, Interval(int, 1, None)]
    assert satisfies(None, spec) and satisfies(4, spec) and not satisfies(0, spec)
    values = invalid_values(spec)
    assert values and None not in values and 0 in values
    assert not any(satisfies(v, spec) for v in values)
    text, nan, *outside = invalid_values(Interval(float, 0, 1))  # wrong type, NaN, each side
    assert text == "1" and math.isnan(nan) and outside == [-0.5, 1.5]
    assert invalid_values(Interval(float, 0, None, closed="neither"))[2:] == [0, math.inf]
    assert invalid_values(Interval(int, 0, None))[1:] == [1.5, -1]


def test_a_malformed_declaration_fails_when_the_class_is_defined():
    with pytest.raises(TypeError, match="not a parameter constraint"):
        constraints(temperature=float)
    assert dict(constraints(quality=[None, Text()])).keys() == {"quality"}
    with pytest.raises(TypeError):
        constraints(quality=Text())["quality"] = None  # read-only


class Toy:
    parameter_constraints = constraints(temperature=Interval(float, 0, None, closed="neither"),
                                        mode=Options("a", "b"))

    def __init__(self, temperature: float = 1.0, mode: str = "a", free: int = 0):
        self.temperature, self.mode, self.free = temperature, mode, free


def test_check_params_names_parameter_value_range_and_default():
    with pytest.raises(CurateError) as caught:
        check_params(Toy, {"temperature": 0}, "selector 'toy'", "select.params")
    assert str(caught.value) == ("selector 'toy': temperature=0 is not in (0, inf); change "
                                 "select.params.temperature, or leave it out for the default "
                                 "(1.0)")
    with pytest.raises(CurateError, match=r"mode='c' is not one of 'a', 'b'"):
        check_params(Toy, {"mode": "c"}, "selector 'toy'", "select.params")
    with pytest.raises(CurateError, match=r"write select.params.temperature as a number"):
        check_params(Toy, {"temperature": "1e-3"}, "selector 'toy'", "select.params")
    check_params(Toy, {"temperature": 2, "mode": "b", "free": "anything"}, "selector 'toy'",
                 "select.params")  # a parameter without a constraint is not checked
