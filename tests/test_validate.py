"""Construction-time validation helpers shared by every policy."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from brace import ConfigError
from brace._validate import (
    clock,
    duration,
    exception_matcher,
    name,
    optional_duration,
    positive_int,
    probability,
)
from brace.testing import VirtualClock


def test_duration_accepts_numbers_and_timedeltas() -> None:
    assert duration("open_for", 1.5) == 1.5
    assert duration("open_for", 2) == 2.0
    assert duration("open_for", timedelta(milliseconds=250)) == 0.25
    assert optional_duration("max_elapsed", None) is None
    assert math.inf == duration("x", math.inf, allow_inf=True)


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        (-1, {}, r"open_for=-1 is out of range; expected seconds >= 0"),
        (0, {"allow_zero": False}, r"open_for=0 is out of range; expected seconds > 0"),
        (math.nan, {}, r"open_for=nan is not allowed"),
        (math.inf, {}, r"open_for=inf is not allowed"),
        ("1", {}, r"open_for='1' is not a duration"),
        (True, {}, r"open_for=True is not a duration"),
    ],
)
def test_duration_errors_name_parameter_value_and_range(
    value: object, kwargs: dict[str, bool], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        duration("open_for", value, **kwargs)


def test_positive_int() -> None:
    assert positive_int("attempts", 3) == 3
    with pytest.raises(ConfigError, match=r"attempts=0 is out of range; expected an int >= 1"):
        positive_int("attempts", 0)
    with pytest.raises(ConfigError, match=r"attempts=2.0 is not an integer"):
        positive_int("attempts", 2.0)
    with pytest.raises(ConfigError, match=r"attempts=True is not an integer"):
        positive_int("attempts", True)


def test_probability() -> None:
    assert probability("failure_rate", 0.5) == 0.5
    assert probability("rate", 0) == 0.0
    with pytest.raises(
        ConfigError, match=r"failure_rate=0 is out of range; expected a number in \(0, 1\]"
    ):
        probability("failure_rate", 0, allow_zero=False)
    with pytest.raises(
        ConfigError, match=r"rate=1.5 is out of range; expected a number in \[0, 1\]"
    ):
        probability("rate", 1.5)
    with pytest.raises(ConfigError, match=r"rate=nan is not a number"):
        probability("rate", math.nan)


def test_name() -> None:
    assert name("name", "payments") == "payments"
    with pytest.raises(ConfigError, match="name='' is not allowed"):
        name("name", "")


def test_exception_matcher_forms() -> None:
    by_type = exception_matcher("on", ValueError)
    by_tuple = exception_matcher("on", (KeyError, TypeError))
    nothing = exception_matcher("ignore", ())
    by_predicate = exception_matcher("on", lambda e: "retry" in str(e))
    assert by_type(ValueError()) and not by_type(KeyError())
    assert by_tuple(KeyError()) and by_tuple(TypeError()) and not by_tuple(ValueError())
    assert not nothing(ValueError())
    assert by_predicate(RuntimeError("please retry")) and not by_predicate(RuntimeError("no"))


@pytest.mark.parametrize("bad", ["ValueError", 3, (ValueError, "x"), [ValueError]])
def test_exception_matcher_rejects_other_values(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"on=.* expected exception types"):
        exception_matcher("on", bad)


def test_a_clock_class_instead_of_an_instance_is_a_config_error() -> None:
    # A class passes isinstance(x, brace.Clock) (its methods are attributes) but cannot be
    # used: clock=VirtualClock (no parentheses) failed on the first failure, losing it.
    with pytest.raises(ConfigError, match=r"clock=<class '.*VirtualClock'> is a class"):
        clock("clock", VirtualClock)
    assert isinstance(clock("clock", VirtualClock()), VirtualClock)
