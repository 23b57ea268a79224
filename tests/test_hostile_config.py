"""Hostile configuration: every constructor answers a bad value with a ConfigError naming it.

A bad configuration fails at the line that builds the policy (a `brace.ConfigError`,
which is a `ValueError`), never later in a call, and never as a TypeError,
AttributeError or OverflowError from deep inside brace.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import threading
import tracemalloc
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import brace
from brace import ConfigError, chaos
from brace.testing import VirtualClock

Build = Callable[..., object]

# -- clock= -----------------------------------------------------------------------------

CLOCK_TAKERS: dict[str, Callable[[Any], object]] = {
    "CircuitBreaker": lambda c: brace.CircuitBreaker(clock=c),
    "Retry": lambda c: brace.Retry(clock=c),
    "Bulkhead": lambda c: brace.Bulkhead(max_concurrent=1, clock=c),
    "Timeout": lambda c: brace.Timeout(1.0, clock=c),
    "RateLimiter": lambda c: brace.RateLimiter(rate=1, clock=c),
    "Throttle": lambda c: brace.Throttle(clock=c),
    "Fallback": lambda c: brace.Fallback(1, clock=c),
    "LastGood": lambda c: brace.LastGood(1.0, clock=c),
    "Hedge": lambda c: brace.Hedge(0.1, clock=c),
    "RetryBudget": lambda c: brace.RetryBudget(clock=c),
    "deadline": lambda c: brace.deadline(1.0, clock=c),
    "chaos.Fault": lambda c: chaos.Fault(ValueError, rate=1.0, clock=c),
    "chaos.Latency": lambda c: chaos.Latency(0.0, rate=1.0, clock=c),
    "chaos.Result": lambda c: chaos.Result(1, rate=1.0, clock=c),
}


class OnlyMonotonic:
    """Half a clock: enough for the happy path, not for the first wait."""

    def monotonic(self) -> float:
        return 0.0


@pytest.mark.parametrize("build", CLOCK_TAKERS.values(), ids=CLOCK_TAKERS.keys())
@pytest.mark.parametrize(
    "bad",
    [object(), OnlyMonotonic(), VirtualClock, 0.0, "system"],
    ids=["object", "only-monotonic", "class-not-instance", "float", "str"],
)
def test_a_clock_that_is_not_a_brace_clock_is_a_config_error_naming_clock(
    build: Callable[[Any], object], bad: object
) -> None:
    with pytest.raises(ConfigError, match=r"^clock="):
        build(bad)


@pytest.mark.parametrize("build", CLOCK_TAKERS.values(), ids=CLOCK_TAKERS.keys())
def test_none_and_a_virtual_clock_are_accepted_as_clocks(build: Callable[[Any], object]) -> None:
    build(None)
    build(VirtualClock())


# -- durations past threading.TIMEOUT_MAX ---------------------------------------------

TOO_LONG = 1e10
assert threading.TIMEOUT_MAX < TOO_LONG


@pytest.mark.parametrize(
    ("param", "build"),
    [
        ("seconds", lambda: brace.Timeout(TOO_LONG)),
        ("max_wait", lambda: brace.Bulkhead(max_concurrent=1, max_queue=1, max_wait=TOO_LONG)),
        ("delay", lambda: brace.Backoff.constant(TOO_LONG)),
        ("max_delay", lambda: brace.Backoff.exponential(max_delay=TOO_LONG)),
        ("max_wait", lambda: brace.RateLimiter(rate=1, max_wait=TOO_LONG)),
        ("seconds", lambda: brace.deadline(TOO_LONG)),
        ("seconds", lambda: brace.Timeout(timedelta(days=365 * 1000))),
    ],
)
def test_a_duration_past_timeout_max_is_a_config_error_naming_it(param: str, build: Build) -> None:
    with pytest.raises(ConfigError, match=rf"^{param}=.* is out of range.*TIMEOUT_MAX"):
        build()


def test_last_good_may_still_keep_values_forever() -> None:
    assert math.inf == brace.LastGood(max_age=math.inf).max_age


def test_a_bulkhead_bigger_than_any_machine_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^max_concurrent=10+ is out of range"):
        brace.Bulkhead(max_concurrent=10**21)


def test_a_huge_bulkhead_costs_no_memory_per_permit_and_still_works() -> None:
    tracemalloc.start()
    try:
        bulkhead = brace.Bulkhead(max_concurrent=10**7)
        allocated = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert allocated < 100_000  # one item per permit would be 80 MB
    assert len(bulkhead._permits.free) <= 64

    def nested(depth: int) -> int:
        # Holds `depth` permits at once: more than are made up front.
        return depth if depth == 0 else bulkhead.call(nested, depth - 1) + 1

    assert bulkhead.call(nested, 99) == 99
    assert bulkhead.metrics().in_flight == 0
    assert bulkhead.metrics().max_in_flight == 100
    assert len(bulkhead._permits.free) <= 128


# -- filters naming control flow --------------------------------------------------------


@pytest.mark.parametrize(
    ("param", "build"),
    [
        ("on", lambda: brace.Retry(on=KeyboardInterrupt)),
        ("on", lambda: brace.Retry(on=(ValueError, SystemExit))),
        ("on", lambda: brace.Fallback(1, on=asyncio.CancelledError)),
        ("on", lambda: brace.Throttle(on=GeneratorExit)),
        ("record", lambda: brace.CircuitBreaker(record=KeyboardInterrupt)),
        ("ignore", lambda: brace.CircuitBreaker(ignore=(SystemExit,))),
    ],
)
def test_a_filter_naming_control_flow_is_a_config_error_naming_it(param: str, build: Build) -> None:
    with pytest.raises(ConfigError, match=rf"^{param}=.* can never match"):
        build()


def test_base_exception_as_a_filter_still_means_every_exception() -> None:
    brace.Retry(on=BaseException)
    brace.Fallback(1, on=BaseException)
    brace.Throttle(on=BaseException)
    brace.CircuitBreaker(record=BaseException)
    retry = brace.Retry(attempts=2, on=BaseException, backoff=brace.Backoff.constant(0))
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("once")
        return "ok"

    assert retry.call(flaky) == "ok"
    assert len(calls) == 2


# -- backoff ----------------------------------------------------------------------------


def test_exponential_backoff_from_zero_is_a_config_error_naming_initial() -> None:
    with pytest.raises(ConfigError, match=r"^initial=0 is not allowed"):
        brace.Backoff.exponential(initial=0)
    with pytest.raises(ConfigError, match=r"^initial=datetime.timedelta\(0\) is not allowed"):
        brace.Backoff.exponential(initial=timedelta(0))


def test_constant_zero_backoff_is_allowed() -> None:
    delays = brace.Backoff.constant(0).delays()
    assert [next(delays), next(delays)] == [0.0, 0.0]


# -- names ------------------------------------------------------------------------------

NAMED: dict[str, Callable[[Any], object]] = {
    "CircuitBreaker": brace.CircuitBreaker,
    "Retry": brace.Retry,
    "Bulkhead": lambda n: brace.Bulkhead(n, max_concurrent=1),
    "RateLimiter": lambda n: brace.RateLimiter(n, rate=1),
    "Throttle": brace.Throttle,
    "Timeout": lambda n: brace.Timeout(1.0, name=n),
    "Fallback": lambda n: brace.Fallback(1, name=n),
    "LastGood": lambda n: brace.LastGood(1.0, name=n),
    "Hedge": lambda n: brace.Hedge(0.1, name=n),
}


@pytest.mark.parametrize("build", NAMED.values(), ids=NAMED.keys())
@pytest.mark.parametrize("bad", [123, "", b"x"])
def test_a_bad_name_is_a_config_error_for_every_named_policy(
    build: Callable[[Any], object], bad: object
) -> None:
    with pytest.raises(ConfigError, match=r"^name=.* expected a non-empty str"):
        build(bad)


# -- open_for as a one-shot iterator ----------------------------------------------------


def boom() -> None:
    raise ConnectionError("down")


def trip(breaker: brace.CircuitBreaker) -> None:
    with pytest.raises(ConnectionError):
        breaker.call(boom)


def retry_after(breaker: brace.CircuitBreaker) -> float | None:
    with pytest.raises(brace.CircuitOpenError) as info:
        breaker.call(lambda: "not run")
    return info.value.retry_after


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (lambda: iter([]), r"^open_for=<list_iterator.*> is empty"),
        (lambda: iter(["x"]), r"^open_for\[0\]='x' is not a duration"),
        (lambda: iter([-5.0]), r"^open_for\[0\]=-5.0 is out of range"),
    ],
    ids=["empty", "not-a-duration", "negative"],
)
def test_a_bad_open_for_iterator_is_a_config_error_at_construction(
    spec: Callable[[], object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        brace.CircuitBreaker(consecutive_failures=1, open_for=spec())


def test_an_open_for_iterator_sets_each_consecutive_trip(clock: VirtualClock) -> None:
    breaker = brace.CircuitBreaker(
        consecutive_failures=1, open_for=iter([1.0, 2.0]), half_open_calls=1, clock=clock
    )
    trip(breaker)
    assert retry_after(breaker) == 1.0
    clock.advance(1.0)
    trip(breaker)  # the trial fails: the second trip in a row
    assert retry_after(breaker) == 2.0
    clock.advance(1.5)
    assert retry_after(breaker) == 0.5
    clock.advance(0.5)
    assert breaker.call(lambda: "ran") == "ran"
    assert brace.State.CLOSED is breaker.state


def test_a_bad_later_open_for_value_opens_on_the_last_good_delay_then_raises(
    clock: VirtualClock,
) -> None:
    breaker = brace.CircuitBreaker(
        consecutive_failures=1, open_for=iter([1.0, "x"]), half_open_calls=1, clock=clock
    )
    trip(breaker)
    clock.advance(1.0)
    with pytest.raises(ConfigError, match=r"^open_for\[1\]='x' is not a duration") as info:
        breaker.call(boom)
    # The user's failure is not lost: it is the context of the configuration error.
    assert isinstance(info.value.__context__, ConnectionError)
    # The trip is not lost either: open on the last good delay, then admit and close.
    opened = breaker.state
    assert brace.State.OPEN is opened
    assert retry_after(breaker) == 1.0
    clock.advance(1.0)
    assert breaker.call(lambda: "ran") == "ran"
    assert brace.State.CLOSED is breaker.state


# -- every constructor, hostile values --------------------------------------------------


class Opaque:
    """Some object brace knows nothing about."""

    def __repr__(self) -> str:
        return "Opaque()"


# Values chosen to break naive validation; ints stay within +-2**62 and floats within float
# range here: the larger ones are pinned below as known escapes.
HOSTILE: st.SearchStrategy[object] = st.one_of(
    st.sampled_from(
        [
            None,
            True,
            False,
            "",
            "x",
            "p95",
            "p0",
            "p100",
            "p1e400",
            "full",
            b"x",
            (),
            [],
            {},
            Opaque(),
            1j,
            ValueError,
            ValueError("x"),
            KeyboardInterrupt,
            SystemExit,
            GeneratorExit,
            asyncio.CancelledError,
            BaseException,
            (ValueError, KeyboardInterrupt),
            (ValueError, "x"),
            VirtualClock,
            brace.SystemClock,
            random.Random,
            brace.Backoff.constant(0),
            brace.CountWindow(10),
            brace.TimeWindow(10),
            timedelta.max,
            timedelta.min,
            lambda: 1,
            lambda *_a, **_k: None,
            print,
        ]
    ),
    st.integers(min_value=-(2**62), max_value=2**62),
    st.floats(),
    st.text(max_size=4),
    st.timedeltas(),
    st.lists(st.one_of(st.floats(), st.integers(-10, 10), st.text(max_size=2)), max_size=3),
    st.builds(
        iter,
        st.lists(st.one_of(st.floats(), st.text(max_size=2)), max_size=3),
    ),
    st.builds(VirtualClock),
    st.builds(random.Random),
    st.builds(brace.RetryBudget),
)


def positional_first(cls: Build) -> Build:
    """A chaos policy taking its positional-only first argument as ``what=``."""

    def build(what: object, **kwargs: Any) -> object:
        return cls(what, **kwargs)

    return build


# Every constructor with its parameters; a required argument not drawn gets a good value.
CONSTRUCTORS: dict[str, tuple[Build, tuple[str, ...], dict[str, object]]] = {
    "CircuitBreaker": (
        brace.CircuitBreaker,
        (
            "name",
            "failure_rate",
            "minimum_calls",
            "window",
            "consecutive_failures",
            "slow_call_duration",
            "slow_call_rate",
            "open_for",
            "half_open_calls",
            "record",
            "ignore",
            "failure_if",
            "clock",
            "rng",
        ),
        {},
    ),
    "Retry": (
        brace.Retry,
        (
            "name",
            "attempts",
            "backoff",
            "on",
            "on_result",
            "max_elapsed",
            "budget",
            "respect_retry_after",
            "rng",
            "clock",
        ),
        {},
    ),
    "Bulkhead": (
        brace.Bulkhead,
        ("name", "max_concurrent", "max_queue", "max_wait", "clock"),
        {"max_concurrent": 1},
    ),
    "Timeout": (
        brace.Timeout,
        ("seconds", "name", "max_abandoned", "clock"),
        {"seconds": 1.0},
    ),
    "RateLimiter": (
        brace.RateLimiter,
        ("name", "rate", "per", "burst", "max_wait", "clock", "store"),
        {"rate": 1},
    ),
    "Throttle": (brace.Throttle, ("name", "k", "window", "on", "rng", "clock"), {}),
    "Fallback": (
        brace.Fallback,
        ("alternatives", "on", "on_result", "clock", "name"),
        {"alternatives": 1},
    ),
    "LastGood": (
        brace.LastGood,
        ("max_age", "key", "max_entries", "clock", "name"),
        {"max_age": 1.0},
    ),
    "Hedge": (
        brace.Hedge,
        (
            "delay",
            "max_extra",
            "budget",
            "min_samples",
            "initial_delay",
            "window",
            "clock",
            "name",
        ),
        {"delay": 0.1},
    ),
    "RetryBudget": (brace.RetryBudget, ("ratio", "min_per_second", "window", "clock"), {}),
    "deadline": (brace.deadline, ("seconds", "clock"), {"seconds": 1.0}),
    "chaos.Fault": (
        positional_first(chaos.Fault),
        ("what", "rate", "enabled", "rng", "clock", "name"),
        {"what": ValueError, "rate": 1.0},
    ),
    "chaos.Latency": (
        positional_first(chaos.Latency),
        ("what", "rate", "enabled", "rng", "clock", "name"),
        {"what": 0.0, "rate": 1.0},
    ),
    "chaos.Result": (
        positional_first(chaos.Result),
        ("what", "rate", "enabled", "rng", "clock", "name"),
        {"what": 1, "rate": 1.0},
    ),
    "Backoff.constant": (brace.Backoff.constant, ("delay",), {"delay": 0.0}),
    "Backoff.linear": (
        brace.Backoff.linear,
        ("initial", "step", "max_delay"),
        {"initial": 0.0, "step": 0.0},
    ),
    "Backoff.exponential": (
        brace.Backoff.exponential,
        ("initial", "multiplier", "max_delay", "jitter"),
        {},
    ),
    "Backoff.of": (brace.Backoff.of, ("delays",), {"delays": [1.0]}),
    "CountWindow": (brace.CountWindow, ("size",), {"size": 1}),
    "TimeWindow": (brace.TimeWindow, ("seconds", "buckets"), {"seconds": 1.0}),
}

# Where a message names the parameter differently from the keyword used to pass it.
ALIASES: dict[str, tuple[str, ...]] = {
    "Backoff.of": ("backoff",),  # Backoff.of(delays) reports a bad iterable as backoff=...
    "chaos.Fault": ("exception",),  # the positional argument's documented name
    "chaos.Latency": ("seconds",),
}


@pytest.mark.parametrize("ctor", CONSTRUCTORS, ids=CONSTRUCTORS.keys())
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_hostile_values_construct_or_raise_a_config_error(ctor: str, data: st.DataObject) -> None:
    build, params, required = CONSTRUCTORS[ctor]
    drawn = data.draw(st.dictionaries(st.sampled_from(params), HOSTILE, min_size=1, max_size=3))
    try:
        build(**{**required, **drawn})
    except ConfigError as error:
        message = str(error)
    else:
        return
    # The message opens with the parameter (or an item of it) and the value given.
    named = re.match(r"(\w+)(\[\d+\])?=", message)
    assert named is not None, message
    assert named.group(1) in {*params, *ALIASES.get(ctor, ())}, message


# Found by the test above, with values it does not draw: each escaped as another error.
INT_BEYOND_FLOAT = 10**400
BEYOND_SSIZE_T = 2**63


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: brace.Timeout(INT_BEYOND_FLOAT), id="Timeout"),
        pytest.param(lambda: brace.deadline(INT_BEYOND_FLOAT), id="deadline"),
        pytest.param(lambda: brace.LastGood(INT_BEYOND_FLOAT), id="LastGood"),
        pytest.param(lambda: brace.RateLimiter(rate=INT_BEYOND_FLOAT), id="RateLimiter"),
        pytest.param(
            lambda: brace.CircuitBreaker(failure_rate=INT_BEYOND_FLOAT),
            id="CircuitBreaker.failure_rate",
        ),
        pytest.param(
            lambda: brace.RetryBudget(ratio=INT_BEYOND_FLOAT),
            id="RetryBudget.ratio",
        ),
        pytest.param(
            lambda: brace.RetryBudget(min_per_second=INT_BEYOND_FLOAT),
            id="RetryBudget.min_per_second",
        ),
        pytest.param(lambda: brace.Throttle(k=INT_BEYOND_FLOAT), id="Throttle.k"),
        pytest.param(
            lambda: brace.Backoff.exponential(multiplier=INT_BEYOND_FLOAT),
            id="Backoff.exponential.multiplier",
        ),
        pytest.param(lambda: chaos.Fault(ValueError, rate=INT_BEYOND_FLOAT), id="Fault"),
        pytest.param(lambda: brace.Hedge(0.1, window=BEYOND_SSIZE_T), id="Hedge.window"),
        pytest.param(
            lambda: brace.CircuitBreaker(window=brace.CountWindow(BEYOND_SSIZE_T)),
            id="CircuitBreaker.CountWindow",
        ),
        pytest.param(
            lambda: brace.CircuitBreaker(store=Opaque()),  # type: ignore[arg-type]
            id="CircuitBreaker.store",
        ),
    ],
)
def test_hostile_values_that_once_escaped_validation_are_config_errors(build: Build) -> None:
    with pytest.raises(ConfigError):
        build()
