"""Construction-time validation shared by every policy.

Each helper raises `ConfigError` (a `ValueError`) whose message names the
parameter, the value given and what is allowed, so a bad configuration
fails at the line that builds the policy and never in the hot path.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeGuard

from brace._clock import SYSTEM_CLOCK, Clock
from brace._errors import ConfigError

__all__ = [
    "MAX_SECONDS",
    "ExceptionFilter",
    "ExceptionMatcher",
    "clock",
    "duration",
    "exception_matcher",
    "name",
    "number",
    "optional_duration",
    "positive_int",
    "positive_number",
    "probability",
]

#: A classifier for exceptions: returns True when the exception matches.
ExceptionMatcher = Callable[[BaseException], bool]

#: What ``on``, ``record`` and ``ignore`` accept: exception types, a tuple of them, or a
#: predicate taking the exception.
ExceptionFilter = (
    type[BaseException] | tuple[type[BaseException], ...] | Callable[[BaseException], object]
)

#: The longest finite duration accepted (about 292 years): a thread can block for at most
#: `threading.TIMEOUT_MAX`, so a longer wait would fail with OverflowError at call time.
MAX_SECONDS = threading.TIMEOUT_MAX

#: Exceptions that end a call but are never a failure; no filter may name them.
_CONTROL_FLOW_NAMES = "KeyboardInterrupt, SystemExit, GeneratorExit, asyncio.CancelledError"


def _is_number(value: object) -> TypeGuard[float | int]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_float(param: str, value: float, allowed: str) -> float:
    """``float(value)``; an int beyond float range is out of range, not an OverflowError."""
    try:
        return float(value)
    except OverflowError:
        raise ConfigError(f"{param}={value!r} is out of range; expected {allowed}") from None


def number(param: str, value: object, *, minimum: float, allow_inf: bool = False) -> float:
    """A number (not a bool) at least ``minimum``, finite unless ``allow_inf``; as a float."""
    allowed = f"a {'' if allow_inf else 'finite '}number >= {minimum:g}"
    if not _is_number(value):
        raise ConfigError(f"{param}={value!r} is not a number; expected {allowed}")
    result = _as_float(param, value, allowed)
    if math.isnan(result) or result < minimum or (math.isinf(result) and not allow_inf):
        raise ConfigError(f"{param}={value!r} is out of range; expected {allowed}")
    return result


def duration(
    param: str,
    value: object,
    *,
    allow_zero: bool = True,
    allow_inf: bool = False,
) -> float:
    """Seconds from a ``float | int | timedelta``; finite and non-negative (or positive)."""
    # The common case, a plain positive float in range, without the checks below (deadlines
    # are built per request, so this runs on a hot path). NaN fails the comparison.
    if type(value) is float and 0.0 < value <= MAX_SECONDS:
        return value
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif _is_number(value):
        seconds = _as_float(param, value, "a finite number of seconds")
    else:
        raise ConfigError(
            f"{param}={value!r} is not a duration; expected seconds as a number "
            "or a datetime.timedelta"
        )
    bound = ">= 0" if allow_zero else "> 0"
    if math.isnan(seconds) or (math.isinf(seconds) and not allow_inf):
        raise ConfigError(
            f"{param}={value!r} is not allowed; expected a finite number of seconds {bound}"
        )
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise ConfigError(f"{param}={value!r} is out of range; expected seconds {bound}")
    if MAX_SECONDS < seconds < math.inf:
        forever = " (or math.inf for no limit)" if allow_inf else ""
        raise ConfigError(
            f"{param}={value!r} is out of range; expected at most {MAX_SECONDS:.4g} seconds "
            f"(threading.TIMEOUT_MAX, about 292 years){forever}"
        )
    return seconds


def optional_duration(
    param: str,
    value: object,
    *,
    allow_zero: bool = True,
) -> float | None:
    """Like `duration`, with ``None`` passed through (meaning "no limit")."""
    if value is None:
        return None
    return duration(param, value, allow_zero=allow_zero)


def positive_int(param: str, value: object, *, minimum: int = 1, maximum: int | None = None) -> int:
    """An ``int`` (not a bool) from ``minimum`` to ``maximum`` (no upper bound if None)."""
    allowed = f"an int >= {minimum}" if maximum is None else f"an int from {minimum} to {maximum:_}"
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"{param}={value!r} is not an integer; expected {allowed}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ConfigError(f"{param}={value!r} is out of range; expected {allowed}")
    return value


def positive_number(param: str, value: object, *, minimum: float = 0.0) -> float:
    """A finite number (not a bool) greater than 0, and at least ``minimum``."""
    allowed = f"a finite number >= {minimum:g}" if minimum > 0 else "a finite number > 0"
    if not _is_number(value):
        raise ConfigError(f"{param}={value!r} is not a number; expected {allowed}")
    result = _as_float(param, value, allowed)
    if math.isnan(result) or math.isinf(result) or result <= 0 or result < minimum:
        raise ConfigError(f"{param}={value!r} is out of range; expected {allowed}")
    return result


def probability(param: str, value: object, *, allow_zero: bool = True) -> float:
    """A number in [0, 1] (or (0, 1] with ``allow_zero=False``)."""
    allowed = "[0, 1]" if allow_zero else "(0, 1]"
    if not _is_number(value):
        raise ConfigError(f"{param}={value!r} is not a number; expected a number in {allowed}")
    result = _as_float(param, value, f"a number in {allowed}")
    if math.isnan(result):
        raise ConfigError(f"{param}={value!r} is not a number; expected a number in {allowed}")
    low_ok = result >= 0 if allow_zero else result > 0
    if not (low_ok and result <= 1):
        raise ConfigError(f"{param}={value!r} is out of range; expected a number in {allowed}")
    return result


def name(param: str, value: object) -> str:
    """A policy name: a non-empty string used in errors, events, metrics and store keys."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{param}={value!r} is not allowed; expected a non-empty str")
    return value


def clock(param: str, value: object) -> Clock:
    """A `brace.Clock` (monotonic, wall, sleep, asleep); ``None`` means the system clock."""
    if value is None:
        return SYSTEM_CLOCK
    # A class passes the runtime Protocol check (its methods are attributes), but its
    # methods are unbound: `clock=VirtualClock` would fail on first use, not here.
    if isinstance(value, type):
        raise ConfigError(
            f"{param}={value!r} is a class, not a clock; expected None (the system clock) "
            "or a brace.Clock instance, such as brace.testing.VirtualClock() (called)"
        )
    if not isinstance(value, Clock):
        raise ConfigError(
            f"{param}={value!r} is not allowed; expected None (the system clock) or a "
            "brace.Clock: an object with monotonic(), wall(), sleep(seconds) and "
            "async asleep(seconds), such as brace.testing.VirtualClock()"
        )
    return value


def _is_exception_type(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, BaseException)


def _check_matchable(param: str, value: object, types: tuple[type[BaseException], ...]) -> None:
    """Refuse a filter naming a type that can never match: control flow is never a failure."""
    for item in types:
        if item is not BaseException and not issubclass(item, Exception):
            raise ConfigError(
                f"{param}={value!r} can never match {item.__name__}: control flow "
                f"({_CONTROL_FLOW_NAMES}) always passes through brace untouched, never "
                "counted, retried or handled; expected Exception subclasses"
            )


def exception_matcher(param: str, value: object) -> ExceptionMatcher:
    """Build a matcher from an exception type, a tuple of them, or a predicate.

    An empty tuple matches nothing. A predicate receives the exception and
    returns whether it matches.
    """
    if _is_exception_type(value):
        exc_type: Any = value
        _check_matchable(param, value, (exc_type,))
        return lambda exc: isinstance(exc, exc_type)
    if isinstance(value, tuple):
        if not all(_is_exception_type(item) for item in value):
            raise ConfigError(
                f"{param}={value!r} is not allowed; expected exception types, "
                "a tuple of them, or a predicate taking the exception"
            )
        types: tuple[type[BaseException], ...] = value
        _check_matchable(param, value, types)
        if not types:
            return lambda _exc: False
        return lambda exc: isinstance(exc, types)
    if callable(value):
        predicate: Callable[[BaseException], object] = value
        return lambda exc: bool(predicate(exc))
    raise ConfigError(
        f"{param}={value!r} is not allowed; expected exception types, "
        "a tuple of them, or a predicate taking the exception"
    )
