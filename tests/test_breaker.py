"""CircuitBreaker behaviour, each scenario through the sync and the async shell."""

from __future__ import annotations

import random
import runpy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import brace
from brace._breaker_state import MANUAL, State, check_transition
from brace.store._memory import MemoryStore
from brace.testing import EventRecorder, VirtualClock
from tests.conftest import Driver


class Boom(Exception):
    pass


class Ignored(Exception):
    pass


def outcome(value: object = "ok") -> Callable[[], object]:
    """A call that returns ``value``, or raises it when it is an exception."""

    def fn() -> object:
        if isinstance(value, BaseException):
            raise value
        return value

    return fn


def run(driver: Driver, breaker: brace.CircuitBreaker, value: object = "ok") -> object:
    """One call through ``breaker``; exceptions from the call are swallowed, rejections are not."""
    try:
        return driver.run(breaker, outcome(value))
    except brace.CircuitOpenError:
        raise
    except Exception as exc:
        return exc


def rate_breaker(clock: VirtualClock, **kwargs: Any) -> brace.CircuitBreaker:
    options: dict[str, Any] = {
        "failure_rate": 0.5,
        "minimum_calls": 4,
        "window": brace.CountWindow(4),
        "open_for": 10.0,
        "half_open_calls": 2,
        "clock": clock,
    }
    options.update(kwargs)
    return brace.CircuitBreaker("svc", **options)


def state_of(breaker: brace.CircuitBreaker) -> State:
    """``breaker.state``, through a call so mypy does not narrow it between asserts."""
    return breaker.state


def trip(driver: Driver, breaker: brace.CircuitBreaker, n: int = 4) -> None:
    for _ in range(n):
        run(driver, breaker, Boom("down"))
    assert state_of(breaker) == State.OPEN


# -- closed and the rate trigger ----------------------------------------------------------


def test_closed_breaker_returns_the_result(driver: Driver, clock: VirtualClock) -> None:
    breaker = rate_breaker(clock)
    assert driver.run(breaker, outcome(42)) == 42
    assert driver.call(breaker, outcome(42)) == 42
    assert state_of(breaker) == State.CLOSED


def test_rate_trips_once_the_window_holds_minimum_calls(
    driver: Driver, clock: VirtualClock
) -> None:
    breaker = rate_breaker(clock)
    for value in (Boom(), "ok", Boom()):
        run(driver, breaker, value)
    assert state_of(breaker) == State.CLOSED  # 67% failed, but only 3 calls
    run(driver, breaker, "ok")  # 50% over 4 calls: a success trips it
    assert state_of(breaker) == State.OPEN


def test_failure_rate_below_threshold_stays_closed(driver: Driver, clock: VirtualClock) -> None:
    breaker = rate_breaker(clock, window=brace.CountWindow(10), failure_rate=0.5)
    for value in ["ok", Boom(), "ok", "ok", Boom(), "ok", "ok", "ok"]:
        run(driver, breaker, value)
    assert state_of(breaker) == State.CLOSED
    assert (breaker.metrics().calls, breaker.metrics().failures) == (8, 2)


def test_time_window_forgets_old_failures(driver: Driver, clock: VirtualClock) -> None:
    breaker = rate_breaker(clock, window=brace.TimeWindow(10), minimum_calls=3)
    run(driver, breaker, Boom())
    run(driver, breaker, Boom())
    clock.advance(11)
    run(driver, breaker, Boom())
    run(driver, breaker, "ok")
    assert state_of(breaker) == State.CLOSED  # only 1 of 2 calls in the window, below minimum
    run(driver, breaker, Boom())
    assert state_of(breaker) == State.OPEN


# -- open -----------------------------------------------------------------------------------


def test_open_rejects_without_calling_with_retry_after_and_cause(
    driver: Driver, clock: VirtualClock
) -> None:
    breaker = rate_breaker(clock)
    trip(driver, breaker)
    clock.advance(4)
    calls: list[int] = []
    with pytest.raises(brace.CircuitOpenError) as info:
        driver.run(breaker, lambda: calls.append(1))
    assert calls == []
    assert info.value.policy == "svc"
    assert info.value.retry_after == 6.0
    assert isinstance(info.value.__cause__, Boom)
    assert breaker.metrics().rejected == 1


def test_open_moves_to_half_open_lazily_after_open_for(
    driver: Driver, clock: VirtualClock, recorder: EventRecorder
) -> None:
    breaker = rate_breaker(clock)
    trip(driver, breaker)
    clock.advance(9.999)
    assert state_of(breaker) == State.OPEN
    clock.advance(0.001)
    assert state_of(breaker) == State.HALF_OPEN
    changes = [(e.old, e.new) for e in recorder.of(brace.StateChanged)]
    assert changes == [("CLOSED", "OPEN"), ("OPEN", "HALF_OPEN")]


# -- half-open ------------------------------------------------------------------------------


def test_half_open_closes_when_the_trials_succeed(
    driver: Driver, clock: VirtualClock, recorder: EventRecorder
) -> None:
    breaker = rate_breaker(clock)
    trip(driver, breaker)
    clock.advance(10)
    run(driver, breaker, "ok")
    assert state_of(breaker) == State.HALF_OPEN  # decides only when every trial has finished
    run(driver, breaker, "ok")
    assert state_of(breaker) == State.CLOSED
    assert breaker.metrics().calls == 0  # a fresh window
    assert recorder.of(brace.StateChanged)[-1].new == "CLOSED"


def test_half_open_reopens_when_the_trial_failure_rate_is_reached(
    driver: Driver, clock: VirtualClock
) -> None:
    breaker = rate_breaker(clock)
    trip(driver, breaker)
    clock.advance(10)
    run(driver, breaker, Boom())
    assert state_of(breaker) == State.HALF_OPEN
    run(driver, breaker, "ok")  # 1 of 2 trials failed: 50% >= 50%
    assert state_of(breaker) == State.OPEN


def test_half_open_rejects_calls_beyond_the_trial_slots(clock: VirtualClock) -> None:
    breaker = rate_breaker(clock)
    for _ in range(4):
        with pytest.raises(Boom):
            breaker.call(outcome(Boom()))
    clock.advance(10)
    first, second = breaker.acquire(), breaker.acquire()
    with pytest.raises(brace.CircuitOpenError) as info:
        breaker.acquire()
    assert info.value.retry_after is None
    first.success()
    second.success()
    assert state_of(breaker) == State.CLOSED


def test_ignored_exception_in_half_open_gives_the_slot_back(
    driver: Driver, clock: VirtualClock
) -> None:
    breaker = rate_breaker(clock, half_open_calls=1, ignore=Ignored)
    trip(driver, breaker)
    clock.advance(10)
    run(driver, breaker, Ignored())
    assert state_of(breaker) == State.HALF_OPEN
    run(driver, breaker, "ok")
    assert state_of(breaker) == State.CLOSED


def test_cancelled_trial_gives_the_slot_back(clock: VirtualClock) -> None:
    breaker = rate_breaker(clock, half_open_calls=1)
    for _ in range(4):
        with pytest.raises(Boom):
            breaker.call(outcome(Boom()))
    clock.advance(10)
    with pytest.raises(KeyboardInterrupt):
        breaker.call(outcome(KeyboardInterrupt()))
    assert state_of(breaker) == State.HALF_OPEN
    assert breaker.call(outcome("ok")) == "ok"
    assert state_of(breaker) == State.CLOSED


async def nothing() -> None:
    pass


async def test_cancelled_async_trial_gives_the_slot_back(clock: VirtualClock) -> None:
    import asyncio

    breaker = rate_breaker(clock, half_open_calls=1)
    for _ in range(4):
        with pytest.raises(Boom):
            breaker.call(outcome(Boom()))
    clock.advance(10)
    started = asyncio.Event()

    @breaker
    async def hang() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(hang())
    await started.wait()
    with pytest.raises(brace.CircuitOpenError):
        await breaker.acall(nothing)  # the only slot is taken
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await breaker.acall(nothing)
    assert state_of(breaker) == State.CLOSED


def test_stale_outcome_from_an_earlier_state_is_not_recorded(clock: VirtualClock) -> None:
    breaker = rate_breaker(clock)
    early = breaker.acquire()  # admitted while CLOSED
    for _ in range(4):
        with pytest.raises(Boom):
            breaker.call(outcome(Boom()))
    clock.advance(10)
    assert state_of(breaker) == State.HALF_OPEN
    early.failure(Boom())  # belongs to the CLOSED phase: not a trial
    breaker.call(outcome("ok"))
    breaker.call(outcome("ok"))
    assert state_of(breaker) == State.CLOSED


# -- consecutive mode -----------------------------------------------------------------------


def test_consecutive_mode_trips_after_n_failures_in_a_row(
    driver: Driver, clock: VirtualClock
) -> None:
    breaker = brace.CircuitBreaker("c", consecutive_failures=3, open_for=5, clock=clock)
    for value in (Boom(), Boom(), "ok", Boom(), Boom()):
        run(driver, breaker, value)
    assert state_of(breaker) == State.CLOSED
    assert breaker.metrics().consecutive_failures == 2
    run(driver, breaker, Boom())
    assert state_of(breaker) == State.OPEN


def test_consecutive_mode_any_failed_trial_reopens_at_once(
    driver: Driver, clock: VirtualClock
) -> None:
    breaker = brace.CircuitBreaker(
        "c", consecutive_failures=1, open_for=5, half_open_calls=3, clock=clock
    )
    run(driver, breaker, Boom())
    clock.advance(5)
    run(driver, breaker, "ok")
    run(driver, breaker, Boom())
    assert state_of(breaker) == State.OPEN
    clock.advance(5)
    for _ in range(3):
        run(driver, breaker, "ok")
    assert state_of(breaker) == State.CLOSED


# -- slow calls -----------------------------------------------------------------------------


def test_slow_calls_trip_at_the_slow_call_rate(driver: Driver, clock: VirtualClock) -> None:
    breaker = rate_breaker(clock, slow_call_duration=1.0, slow_call_rate=0.5, failure_rate=1.0)

    def slow() -> str:
        clock.advance(1.5)
        return "ok"

    def slow_failure() -> None:
        clock.advance(2)
        raise Boom

    driver.run(breaker, slow)
    with pytest.raises(Boom):
        driver.run(breaker, slow_failure)
    run(driver, breaker, "ok")
    assert state_of(breaker) == State.CLOSED
    run(driver, breaker, "ok")  # 2 slow of 4 (one failed, one not): 50%
    assert state_of(breaker) == State.OPEN


def test_a_call_exactly_at_the_slow_threshold_is_not_slow(
    driver: Driver, clock: VirtualClock
) -> None:
    breaker = rate_breaker(clock, slow_call_duration=1.0, minimum_calls=1, slow_call_rate=0.1)

    def edge() -> str:
        clock.advance(1.0)
        return "ok"

    driver.run(breaker, edge)
    assert (state_of(breaker), breaker.metrics().slow) == (State.CLOSED, 0)


# -- classification -------------------------------------------------------------------------


def test_ignored_exceptions_count_as_neither(driver: Driver, clock: VirtualClock) -> None:
    breaker = rate_breaker(clock, ignore=(Ignored,))
    for _ in range(6):
        run(driver, breaker, Ignored())
    assert (state_of(breaker), breaker.metrics().calls) == (State.CLOSED, 0)


def test_exceptions_outside_record_count_as_successes(driver: Driver, clock: VirtualClock) -> None:
    breaker = rate_breaker(clock, record=ConnectionError)
    for _ in range(4):
        run(driver, breaker, KeyError("x"))
    metrics = breaker.metrics()
    assert (metrics.state, metrics.calls, metrics.failures) == (State.CLOSED, 4, 0)


def test_record_accepts_a_predicate(driver: Driver, clock: VirtualClock) -> None:
    breaker = rate_breaker(clock, record=lambda exc: "fatal" in str(exc))
    for message in ("fatal", "minor", "fatal", "fatal"):
        run(driver, breaker, Boom(message))
    assert breaker.metrics().failures == 3


def test_failure_if_counts_a_result_as_failure(driver: Driver, clock: VirtualClock) -> None:
    breaker = rate_breaker(clock, failure_if=lambda result: result == 503)
    for status in (503, 200, 503, 503):
        assert status == driver.run(breaker, outcome(status))
    assert state_of(breaker) == State.OPEN


def test_timeout_exceeded_from_inside_counts_as_failure(
    driver: Driver, clock: VirtualClock
) -> None:
    breaker = rate_breaker(clock, ignore=(Ignored,))
    for _ in range(4):
        run(driver, breaker, brace.TimeoutExceededError("slow", policy="t", timeout=1.0))
    assert state_of(breaker) == State.OPEN


def test_control_flow_exceptions_are_never_counted(clock: VirtualClock) -> None:
    breaker = rate_breaker(clock, minimum_calls=1)
    for exc in (KeyboardInterrupt(), SystemExit(), GeneratorExit()):
        with pytest.raises(type(exc)):
            breaker.call(outcome(exc))
    assert (state_of(breaker), breaker.metrics().calls) == (State.CLOSED, 0)


def test_expired_deadline_rejects_before_the_breaker_records(
    driver: Driver, clock: VirtualClock
) -> None:
    breaker = rate_breaker(clock, minimum_calls=1)
    with brace.deadline(1, clock=clock):
        clock.advance(2)
        with pytest.raises(brace.TimeoutExceededError):
            driver.run(breaker, outcome("ok"))
    assert breaker.metrics().calls == 0


# -- manual control -------------------------------------------------------------------------


def test_force_open_rejects_everything_with_no_retry_after(
    driver: Driver, clock: VirtualClock
) -> None:
    breaker = rate_breaker(clock)
    breaker.force_open()
    clock.advance(1000)
    with pytest.raises(brace.CircuitOpenError) as info:
        driver.run(breaker, outcome())
    assert (state_of(breaker), info.value.retry_after) == (State.FORCED_OPEN, None)


def test_disable_admits_everything_and_records_nothing(driver: Driver, clock: VirtualClock) -> None:
    breaker = rate_breaker(clock)
    breaker.disable()
    for _ in range(10):
        run(driver, breaker, Boom())
    assert (state_of(breaker), breaker.metrics().calls) == (State.DISABLED, 0)


def test_reset_closes_with_an_empty_window(driver: Driver, clock: VirtualClock) -> None:
    breaker = rate_breaker(clock)
    trip(driver, breaker)
    with pytest.raises(brace.CircuitOpenError):
        driver.run(breaker, outcome())
    breaker.reset()
    metrics = breaker.metrics()
    assert (metrics.state, metrics.calls, metrics.rejected) == (State.CLOSED, 0, 0)
    assert driver.run(breaker, outcome()) == "ok"


@pytest.mark.parametrize("start", list(State))
@pytest.mark.parametrize("action", ["force_open", "disable", "reset"])
def test_manual_control_is_legal_from_every_state(
    clock: VirtualClock, start: State, action: str
) -> None:
    breaker = rate_breaker(clock, half_open_calls=1)
    if start in (State.OPEN, State.HALF_OPEN):
        for _ in range(4):
            with pytest.raises(Boom):
                breaker.call(outcome(Boom()))
        if start is State.HALF_OPEN:
            clock.advance(10)
    elif start is State.FORCED_OPEN:
        breaker.force_open()
    elif start is State.DISABLED:
        breaker.disable()
    assert start == state_of(breaker)
    getattr(breaker, action)()
    expected = {"force_open": State.FORCED_OPEN, "disable": State.DISABLED, "reset": State.CLOSED}
    assert expected[action] == state_of(breaker)


def test_illegal_transitions_are_bugs() -> None:
    assert (State.OPEN, State.CLOSED) in MANUAL
    with pytest.raises(RuntimeError, match="OPEN -> CLOSED"):
        check_transition(State.OPEN, State.CLOSED, manual=False)
    with pytest.raises(RuntimeError, match="CLOSED -> HALF_OPEN"):
        check_transition(State.CLOSED, State.HALF_OPEN, manual=False)
    with pytest.raises(RuntimeError, match="FORCED_OPEN -> OPEN"):
        check_transition(State.FORCED_OPEN, State.OPEN, manual=True)


# -- permits and guard ----------------------------------------------------------------------


def test_permit_records_exactly_one_outcome(clock: VirtualClock) -> None:
    breaker = rate_breaker(clock)
    permit = breaker.acquire()
    permit.failure()
    with pytest.raises(RuntimeError, match="already"):
        permit.success()
    breaker.acquire().success()
    breaker.acquire().cancel()
    breaker.acquire().failure(Boom())
    metrics = breaker.metrics()
    assert (metrics.calls, metrics.failures) == (3, 2)


def test_permit_failure_classifies_the_exception(clock: VirtualClock) -> None:
    breaker = rate_breaker(clock, record=ConnectionError, ignore=Ignored)
    breaker.acquire().failure(Ignored())
    breaker.acquire().failure(KeyError())
    breaker.acquire().failure(ConnectionError())
    breaker.acquire().failure()  # no exception: a plain failure whatever `record` says
    metrics = breaker.metrics()
    assert (metrics.calls, metrics.failures) == (3, 2)


def test_permit_measures_slow_work(clock: VirtualClock) -> None:
    breaker = rate_breaker(clock, slow_call_duration=1.0)
    permit = breaker.acquire()
    clock.advance(3)
    permit.success()
    assert breaker.metrics().slow == 1


def test_guard_records_the_block(clock: VirtualClock) -> None:
    breaker = rate_breaker(clock, ignore=Ignored)
    with breaker.guard():
        pass
    with pytest.raises(Boom), breaker.guard():
        raise Boom
    with pytest.raises(Ignored), breaker.guard():
        raise Ignored
    with pytest.raises(KeyboardInterrupt), breaker.guard():
        raise KeyboardInterrupt
    metrics = breaker.metrics()
    assert (metrics.calls, metrics.failures) == (2, 1)


def test_guard_raises_when_open(driver: Driver, clock: VirtualClock) -> None:
    breaker = rate_breaker(clock)
    trip(driver, breaker)
    entered = False
    with pytest.raises(brace.CircuitOpenError), breaker.guard():
        entered = True
    assert not entered


async def test_guard_works_as_an_async_context_manager(clock: VirtualClock) -> None:
    breaker = rate_breaker(clock)
    async with breaker.guard():
        pass
    with pytest.raises(Boom):
        async with breaker.guard():
            raise Boom
    assert (breaker.metrics().calls, breaker.metrics().failures) == (2, 1)


# -- open_for schedules ---------------------------------------------------------------------


def reopen(breaker: brace.CircuitBreaker, clock: VirtualClock) -> float:
    """Fail the trial of an OPEN breaker once it is due; return how long it stayed OPEN."""
    waited = 0.0
    while breaker.state is State.OPEN:
        clock.advance(0.5)
        waited += 0.5
    with pytest.raises(Boom):
        breaker.call(outcome(Boom()))
    return waited


def test_open_for_schedule_grows_per_trip_and_restarts_after_close(clock: VirtualClock) -> None:
    breaker = brace.CircuitBreaker(
        "s", consecutive_failures=1, half_open_calls=1, open_for=[1, 2, 4], clock=clock
    )
    with pytest.raises(Boom):
        breaker.call(outcome(Boom()))
    assert [reopen(breaker, clock) for _ in range(4)] == [1.0, 2.0, 4.0, 4.0]
    clock.advance(4)
    breaker.call(outcome("ok"))
    assert state_of(breaker) == State.CLOSED
    with pytest.raises(Boom):
        breaker.call(outcome(Boom()))
    assert reopen(breaker, clock) == 1.0


class Doubling:
    """A Backoff stand-in: anything with ``delays(rng)`` is accepted as ``open_for``."""

    def __init__(self) -> None:
        self.rngs: list[random.Random | None] = []

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        self.rngs.append(rng)
        delay = 1.0
        while True:
            yield delay
            delay *= 2


def test_open_for_accepts_a_backoff_and_passes_the_rng(clock: VirtualClock) -> None:
    rng = random.Random(1)
    schedule = Doubling()
    breaker = brace.CircuitBreaker(
        "b", consecutive_failures=1, half_open_calls=1, open_for=schedule, rng=rng, clock=clock
    )
    with pytest.raises(Boom):
        breaker.call(outcome(Boom()))
    assert [reopen(breaker, clock) for _ in range(3)] == [1.0, 2.0, 4.0]
    assert [rng] == schedule.rngs


def test_open_for_accepts_the_real_backoff(clock: VirtualClock) -> None:
    backoff = brace.Backoff.exponential(initial=1.0, multiplier=3.0, max_delay=100.0, jitter=None)
    breaker = brace.CircuitBreaker(
        "b", consecutive_failures=1, half_open_calls=1, open_for=backoff, clock=clock
    )
    with pytest.raises(Boom):
        breaker.call(outcome(Boom()))
    assert [reopen(breaker, clock) for _ in range(2)] == [1.0, 3.0]


# -- observability --------------------------------------------------------------------------


def test_events_name_the_policy_and_reason(
    driver: Driver, clock: VirtualClock, recorder: EventRecorder
) -> None:
    breaker = rate_breaker(clock)
    trip(driver, breaker)
    with pytest.raises(brace.CircuitOpenError):
        driver.run(breaker, outcome())
    changed = recorder.of(brace.StateChanged)[0]
    assert (changed.policy, changed.old, changed.new) == ("svc", "CLOSED", "OPEN")
    assert "failure rate 100%" in changed.reason
    rejected = recorder.of(brace.CallRejected)
    assert [brace.CallRejected("svc", "open", 10.0)] == rejected


def test_a_failing_listener_never_breaks_the_call(
    driver: Driver, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    breaker = rate_breaker(clock)

    def bad(event: brace.Event) -> None:
        raise RuntimeError("listener bug")

    with breaker.listen(bad):
        trip(driver, breaker)
    assert state_of(breaker) == State.OPEN


def test_metrics_snapshot(clock: VirtualClock) -> None:
    breaker = rate_breaker(clock, window=brace.CountWindow(10), slow_call_duration=1.0)
    breaker.call(outcome("ok"))
    with pytest.raises(Boom):
        breaker.call(outcome(Boom()))
    clock.advance(7)
    metrics = breaker.metrics()
    expected = brace.BreakerMetrics(
        state=State.CLOSED,
        calls=2,
        failures=1,
        slow=0,
        failure_rate=0.5,
        slow_rate=0.0,
        consecutive_failures=0,
        rejected=0,
        time_in_state=7.0,
        calls_total=2,
        failures_total=1,
        slow_total=0,
        rejections_total=0,
    )
    assert expected == metrics


def test_describe_and_repr_show_the_configuration(clock: VirtualClock) -> None:
    breaker = brace.CircuitBreaker("pay", consecutive_failures=3, clock=clock)
    assert breaker.describe() == {
        "policy": "CircuitBreaker",
        "name": "pay",
        "consecutive_failures": 3,
        "open_for": 30.0,
        "half_open_calls": 5,
    }
    assert "brace.CircuitBreaker('pay', consecutive_failures=3" in repr(breaker)
    assert brace.CircuitBreaker().name == "circuitbreaker"


# -- store ----------------------------------------------------------------------------------


def test_breakers_sharing_a_store_and_name_share_state(clock: VirtualClock) -> None:
    store = MemoryStore()
    first = brace.CircuitBreaker("shared", consecutive_failures=1, store=store, clock=clock)
    second = brace.CircuitBreaker("shared", consecutive_failures=1, store=store, clock=clock)
    alone = brace.CircuitBreaker("shared", consecutive_failures=1, clock=clock)
    with pytest.raises(Boom):
        first.call(outcome(Boom()))
    assert (state_of(second), state_of(alone)) == (State.OPEN, State.CLOSED)


def test_a_store_refuses_a_second_window_for_one_name(clock: VirtualClock) -> None:
    store = MemoryStore()
    brace.CircuitBreaker("w", window=brace.CountWindow(50), store=store, clock=clock)
    with pytest.raises(brace.ConfigError, match="window="):
        brace.CircuitBreaker("w", window=brace.CountWindow(60), store=store, clock=clock)


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"failure_rate": 0}, r"failure_rate=0 .*\(0, 1\]"),
        ({"failure_rate": 1.5}, r"failure_rate=1.5 .*\(0, 1\]"),
        ({"failure_rate": "x"}, "failure_rate='x'"),
        ({"minimum_calls": 0}, "minimum_calls=0 .*>= 1"),
        ({"minimum_calls": 101}, "minimum_calls=101 .*<= 100"),
        ({"half_open_calls": 0}, "half_open_calls=0 .*>= 1"),
        ({"open_for": -1}, "open_for=-1 .*>= 0"),
        ({"open_for": []}, "open_for=()"),
        ({"record": 42}, "record=42 .*exception types"),
        ({"ignore": (ValueError, 3)}, "ignore=.*exception types"),
        ({"window": 10}, "window=10 .*CountWindow"),
        ({"slow_call_duration": 0}, "slow_call_duration=0"),
        ({"slow_call_rate": 0}, r"slow_call_rate=0 .*\(0, 1\]"),
        ({"consecutive_failures": 0}, "consecutive_failures=0 .*>= 1"),
        ({"consecutive_failures": 3, "failure_rate": 0.5}, "failure_rate=0.5 is not allowed"),
        ({"consecutive_failures": 3, "window": brace.CountWindow(5)}, "window=.*not allowed"),
        ({"consecutive_failures": 3, "minimum_calls": 5}, "minimum_calls=5 is not allowed"),
        ({"failure_if": 3}, "failure_if=3"),
        ({"rng": 3}, "rng=3"),
    ],
)
def test_bad_configuration_raises_config_error(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(brace.ConfigError, match=match):
        brace.CircuitBreaker("bad", **kwargs)


# -- docs -----------------------------------------------------------------------------------


def test_docs_example_runs() -> None:
    path = Path(__file__).resolve().parent.parent / "docs" / "examples" / "circuit_breaker.py"
    namespace = runpy.run_path(str(path), run_name="__main__")
    assert namespace["RESULTS"]


# -- a phase decided elsewhere (a shared store) -----------------------------------------------


def test_adopting_a_fleet_phase_moves_the_breaker_with_an_event_unless_it_moved_on(
    clock: VirtualClock,
) -> None:
    breaker = brace.CircuitBreaker("b", consecutive_failures=1, open_for=10.0, clock=clock)
    recorder = EventRecorder()
    breaker.listen(recorder)
    machine = breaker._machine
    closed = machine.cell.phase
    committed: list[object] = []
    machine.adopt(closed, State.OPEN, 0.0, 5.0, 3, "fleet tripped", committed.append)
    assert breaker.state is State.OPEN
    assert machine.cell.trips == 3
    assert committed == [machine.cell.phase]
    assert recorder.of(brace.StateChanged) == [
        brace.StateChanged("b", "CLOSED", "OPEN", "fleet tripped")
    ]
    machine.adopt(closed, State.CLOSED, 0.0, 0.0, 0, "stale", committed.append)
    assert breaker.state is State.OPEN  # `closed` is no longer current: nothing happens
    assert len(committed) == 1
    clock.advance(5.0)
    assert breaker.metrics().state is State.HALF_OPEN  # the adopted open_for ends as the fleet's
