"""The breaker core's hot paths: its rejections, and fast-path counts that agree with a recount."""

from __future__ import annotations

import contextlib
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import brace
from brace._breaker_state import State
from brace.testing import VirtualClock
from tests.conftest import Driver


class Boom(Exception):
    pass


class Halt(BaseException):
    """Neither an Exception nor one of asyncio's or Python's own control-flow exceptions."""


def fail() -> None:
    raise Boom("down")


def tripped(clock: VirtualClock) -> brace.CircuitBreaker:
    breaker = brace.CircuitBreaker("svc", consecutive_failures=1, open_for=10.0, clock=clock)
    with pytest.raises(Boom):
        breaker.call(fail)
    return breaker


def rejection(driver: Driver, breaker: brace.CircuitBreaker) -> brace.CircuitOpenError:
    with pytest.raises(brace.CircuitOpenError) as info:
        driver.run(breaker, lambda: None)
    return info.value


def test_each_rejection_is_a_new_circuit_open_error_caused_by_the_trip(
    driver: Driver, clock: VirtualClock
) -> None:
    breaker = tripped(clock)
    first = rejection(driver, breaker)
    clock.advance(4)
    second = rejection(driver, breaker)
    assert first is not second  # a shared instance would share its traceback across threads
    assert first.__traceback__ is not second.__traceback__
    assert (type(first).__name__, str(first)) == (
        "CircuitOpenError",
        "circuit breaker 'svc' is open",
    )
    assert (first.policy, first.retry_after, second.retry_after) == ("svc", 10.0, 6.0)
    assert isinstance(first.__cause__, Boom)
    assert first.__cause__ is second.__cause__


def test_a_rejection_pickles_as_a_plain_circuit_open_error(clock: VirtualClock) -> None:
    breaker = tripped(clock)
    with pytest.raises(brace.CircuitOpenError) as info:
        breaker.call(lambda: None)
    copy = pickle.loads(pickle.dumps(info.value))  # noqa: S301 - our own bytes
    assert type(copy) is brace.CircuitOpenError
    assert (str(copy), copy.policy, copy.retry_after) == (str(info.value), "svc", 10.0)


def test_a_rejection_without_a_cause_keeps_the_exception_being_handled(
    driver: Driver, clock: VirtualClock
) -> None:
    breaker = brace.CircuitBreaker("svc", clock=clock)
    breaker.force_open()
    try:
        raise KeyError("handled")
    except KeyError:
        error = rejection(driver, breaker)
    assert (error.__cause__, error.__suppress_context__) == (None, False)
    assert isinstance(error.__context__, KeyError)


def test_rejections_are_counted_until_reset_and_reading_them_changes_nothing(
    driver: Driver, clock: VirtualClock
) -> None:
    breaker = tripped(clock)
    for expected in range(1, 4):
        rejection(driver, breaker)
        assert breaker.metrics().rejected == expected
        assert breaker.metrics().rejected == expected
    breaker.reset()
    breaker.force_open()
    rejection(driver, breaker)
    assert breaker.metrics().rejected == 1


def test_a_base_exception_that_is_not_an_exception_is_never_counted(
    driver: Driver, clock: VirtualClock
) -> None:
    breaker = brace.CircuitBreaker(
        "svc", consecutive_failures=1, half_open_calls=1, open_for=1, clock=clock
    )
    breaker.acquire().failure()
    clock.advance(1)

    def halt() -> None:
        raise Halt

    with pytest.raises(Halt):
        driver.run(breaker, halt)
    breaker.acquire().failure(Halt())
    phase = breaker._machine.cell.phase  # the one trial slot came back both times, undecided
    assert (phase.state, phase.admitted, phase.done) == (State.HALF_OPEN, 0, 0)
    driver.run(breaker, lambda: None)
    assert breaker.state is State.CLOSED


# -- fast-path counts against a recount ------------------------------------------------------

steps = st.lists(
    st.tuples(st.sampled_from(["ok", "fail", "permit-ok"]), st.integers(0, 6)), max_size=50
)


@settings(max_examples=60, deadline=None)
@given(steps=steps)
def test_time_window_counts_match_a_recount(steps: list[tuple[str, int]]) -> None:
    # 4 slices of 0.5 s, never tripping: clean successes take the core's fast path and must
    # land in the same slice as `record` would put them.
    clock = VirtualClock()
    breaker = brace.CircuitBreaker(
        "svc", window=brace.TimeWindow(2, buckets=4), minimum_calls=10**9, clock=clock
    )
    seen: list[tuple[int, bool]] = []
    for kind, gap in steps:
        clock.advance(gap * 0.25)
        now = clock.monotonic()
        if kind == "permit-ok":
            breaker.acquire().success()
        else:
            with contextlib.suppress(Boom):
                breaker.call(fail if kind == "fail" else lambda: None)
        seen.append((int(now * 2), kind == "fail"))
        live = [failed for slot, failed in seen if slot > int(now * 2) - 4]
        metrics = breaker.metrics()
        assert (len(live), sum(live)) == (metrics.calls, metrics.failures)


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 5), kinds=st.lists(st.booleans(), max_size=30))
def test_count_window_counts_match_a_recount(size: int, kinds: list[bool]) -> None:
    breaker = brace.CircuitBreaker(
        "svc", window=brace.CountWindow(size), minimum_calls=size, failure_rate=1.0
    )
    live: list[bool] = []
    for failed in kinds:
        if breaker.state is not State.CLOSED:
            break
        with contextlib.suppress(Boom):
            breaker.call(fail if failed else lambda: None)
        live = [*live, failed][-size:]
        metrics = breaker.metrics()
        if metrics.state is State.CLOSED:
            assert (len(live), sum(live)) == (metrics.calls, metrics.failures)
