"""Retry bounds: max_elapsed, deadlines and server-directed delays (Retry-After), and their interplay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import brace
from brace import Backoff, Retry
from brace._retry_after import hint_seconds, parse_header
from brace.testing import EventRecorder, VirtualClock
from tests.conftest import Driver


class Hinted(Exception):
    def __init__(self, retry_after: object) -> None:
        super().__init__("hinted")
        self.retry_after = retry_after


def failing(*errors: BaseException) -> Any:
    pending = list(errors)
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if pending:
            raise pending.pop(0)
        return "ok"

    fn.calls = calls  # type: ignore[attr-defined]
    return fn


def always(exc_factory: Any, clock: VirtualClock | None = None, took: float = 0.0) -> Any:
    calls: list[float] = []

    def fn() -> None:
        if clock is not None:
            calls.append(clock.monotonic())
            clock.advance(took)
        else:
            calls.append(0.0)
        raise exc_factory()

    fn.calls = calls  # type: ignore[attr-defined]
    return fn


# -- max_elapsed ---------------------------------------------------------------------------


def test_max_elapsed_gives_up_rather_than_wait_past_it(
    driver: Driver, clock: VirtualClock, recorder: EventRecorder
) -> None:
    fn = always(OSError, clock)
    policy = Retry(attempts=10, backoff=Backoff.constant(1.0), max_elapsed=2.5, clock=clock)
    with pytest.raises(OSError) as info:
        driver.run(policy, fn)
    assert fn.calls == [0.0, 1.0, 2.0]
    assert sum(clock.sleeps) < 2.5
    assert "would pass max_elapsed=2.5 s" in info.value.__notes__[0]
    (gave_up,) = recorder.of(brace.GaveUp)
    expected = ("retry", "max_elapsed", 3, 2.0, "OSError")
    assert expected == (
        gave_up.policy,
        gave_up.reason,
        gave_up.attempts,
        gave_up.elapsed,
        gave_up.exception,
    )
    assert info.value.__notes__[0] == gave_up.note


def test_max_elapsed_counts_the_time_attempts_take(driver: Driver, clock: VirtualClock) -> None:
    fn = always(OSError, clock, took=1.0)
    policy = Retry(attempts=10, backoff=Backoff.constant(0.5), max_elapsed=4.0, clock=clock)
    with pytest.raises(OSError):
        driver.run(policy, fn)
    # attempts at 0, 1.5, 3.0 (each takes 1 s); after the third, 4.0 + 0.5 >= 4.0.
    assert fn.calls == [0.0, 1.5, 3.0]


def test_max_elapsed_is_rechecked_after_a_sleep_that_overshoots(driver: Driver) -> None:
    class Oversleeping(VirtualClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds * 10)

    clock = Oversleeping()
    fn = always(OSError, clock)
    policy = Retry(attempts=10, backoff=Backoff.constant(0.2), max_elapsed=1.0, clock=clock)
    with pytest.raises(OSError) as info:
        driver.run(policy, fn)
    assert fn.calls == [0.0]
    assert "max_elapsed=1 s passed" in info.value.__notes__[0]


# -- deadlines -----------------------------------------------------------------------------


def test_a_retry_never_sleeps_past_the_deadline(driver: Driver, clock: VirtualClock) -> None:
    fn = always(ConnectionError, clock)
    policy = Retry(attempts=10, backoff=Backoff.linear(1.0, 1.0), clock=clock)
    with brace.deadline(5.0, clock=clock), pytest.raises(ConnectionError) as info:
        driver.run(policy, fn)
    # waits 1 then 2 (t=3); the next wait of 3 would end at 6 > 5: give up at once.
    assert clock.sleeps == [1.0, 2.0]
    assert clock.monotonic() == 3.0
    assert "waiting 3 s would pass the deadline (2 s left)" in info.value.__notes__[0]


def test_a_wait_ending_exactly_at_the_deadline_is_not_taken(
    driver: Driver, clock: VirtualClock
) -> None:
    fn = always(ConnectionError, clock)
    policy = Retry(attempts=10, backoff=Backoff.constant(1.0), clock=clock)
    with brace.deadline(2.0, clock=clock), pytest.raises(ConnectionError):
        driver.run(policy, fn)
    assert clock.sleeps == [1.0]


def test_an_expired_deadline_stops_the_call_before_the_first_attempt(
    driver: Driver, clock: VirtualClock
) -> None:
    fn = always(OSError, clock)
    with brace.deadline(1.0, clock=clock):
        clock.advance(1.0)
        with pytest.raises(brace.TimeoutExceededError):
            driver.run(Retry(clock=clock), fn)
    assert fn.calls == []


def test_the_deadline_is_rechecked_before_each_attempt(driver: Driver) -> None:
    class Oversleeping(VirtualClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds + 5)

    clock = Oversleeping()
    fn = always(OSError, clock)
    with brace.deadline(3.0, clock=clock), pytest.raises(OSError) as info:
        driver.run(Retry(backoff=Backoff.constant(0.1), clock=clock), fn)
    assert len(fn.calls) == 1
    assert "the deadline passed" in info.value.__notes__[0]


# -- Retry-After ---------------------------------------------------------------------------


def test_a_retry_after_hint_longer_than_the_backoff_is_waited(
    driver: Driver, clock: VirtualClock
) -> None:
    fn = failing(Hinted(3.0), Hinted(0.01))
    policy = Retry(backoff=Backoff.exponential(initial=0.5, max_delay=10, jitter=None), clock=clock)
    assert driver.run(policy, fn) == "ok"
    # max(backoff, hint): 3 s for the first, the backoff's 1 s for the second.
    assert clock.sleeps == [3.0, 1.0]


def test_a_hint_beyond_max_delay_gives_up_at_once(
    driver: Driver, clock: VirtualClock, recorder: EventRecorder
) -> None:
    fn = failing(Hinted(30))
    policy = Retry(backoff=Backoff.exponential(max_delay=10), clock=clock)
    with pytest.raises(Hinted) as info:
        driver.run(policy, fn)
    assert clock.sleeps == []
    assert "asked to wait 30 s, more than max_delay=10 s" in info.value.__notes__[0]
    assert recorder.of(brace.GaveUp)[0].reason == "retry_after"


def test_a_hint_beyond_the_deadline_gives_up_at_once(driver: Driver, clock: VirtualClock) -> None:
    fn = failing(Hinted(5))
    with brace.deadline(4, clock=clock), pytest.raises(Hinted) as info:
        driver.run(Retry(backoff=Backoff.constant(0.1), clock=clock), fn)
    assert clock.sleeps == []
    assert "would pass the deadline" in info.value.__notes__[0]


def test_a_hint_within_the_deadline_is_honoured(driver: Driver, clock: VirtualClock) -> None:
    fn = failing(Hinted(3))
    with brace.deadline(4, clock=clock):
        assert driver.run(Retry(backoff=Backoff.constant(0.1), clock=clock), fn) == "ok"
    assert clock.sleeps == [3.0]


def test_an_aware_datetime_hint_is_converted_with_the_clocks_wall_time(
    driver: Driver, clock: VirtualClock
) -> None:
    when = datetime.fromtimestamp(clock.wall() + 4.0, tz=UTC)
    fn = failing(Hinted(when))
    assert driver.run(Retry(backoff=Backoff.constant(0.1), clock=clock), fn) == "ok"
    assert clock.sleeps == [pytest.approx(4.0)]


def test_a_datetime_in_the_past_means_the_plain_backoff(
    driver: Driver, clock: VirtualClock
) -> None:
    fn = failing(Hinted(datetime.fromtimestamp(clock.wall() - 100, tz=UTC)))
    driver.run(Retry(backoff=Backoff.constant(0.1), clock=clock), fn)
    assert clock.sleeps == [0.1]


def test_respect_retry_after_false_ignores_every_hint(driver: Driver, clock: VirtualClock) -> None:
    fn = failing(Hinted(300))
    policy = Retry(backoff=Backoff.constant(0.1), respect_retry_after=False, clock=clock)
    assert driver.run(policy, fn) == "ok"
    assert clock.sleeps == [0.1]


def test_rejections_named_in_on_are_retried_and_their_retry_after_waited_out(
    driver: Driver, clock: VirtualClock
) -> None:
    fn = failing(
        brace.CircuitOpenError("open", policy="b", retry_after=2.0),
        brace.RateLimitedError("slow", policy="r", retry_after=1.5),
        brace.CircuitOpenError("forced", policy="b", retry_after=None),
    )
    on = (brace.CircuitOpenError, brace.RateLimitedError)
    policy = Retry(attempts=4, backoff=Backoff.constant(0.25), on=on, clock=clock)
    assert driver.run(policy, fn) == "ok"
    assert clock.sleeps == [2.0, 1.5, 0.25]


@pytest.mark.parametrize(
    "rejection",
    [
        brace.CircuitOpenError("open", policy="b", retry_after=60.0),
        brace.BulkheadFullError("full", policy="b"),
        brace.RateLimitedError("slow", policy="r", retry_after=1.5),
    ],
    ids=["circuit-open", "bulkhead-full", "rate-limited"],
)
@pytest.mark.parametrize(
    "on",
    [Exception, (ConnectionError, brace.BraceError), lambda exc: True],
    ids=["default", "broad-types", "predicate"],
)
def test_rejections_from_inner_policies_fail_fast_unless_named(
    driver: Driver, clock: VirtualClock, rejection: Exception, on: object
) -> None:
    # The protection working is not a failure to retry: an open breaker must fail fast,
    # not have the retry wait out its open_for.
    fn = failing(rejection)
    policy = Retry(attempts=4, on=on, clock=clock)  # type: ignore[arg-type]
    with pytest.raises(type(rejection)) as info:
        driver.run(policy, fn)
    assert info.value is rejection
    assert len(fn.calls) == 1
    assert clock.sleeps == []
    assert not getattr(rejection, "__notes__", None)


@pytest.mark.parametrize("named", [brace.RejectedError, brace.BulkheadFullError])
def test_naming_a_rejection_type_opts_in(
    driver: Driver, clock: VirtualClock, named: type[Exception]
) -> None:
    fn = failing(brace.BulkheadFullError("full", policy="b"))
    policy = Retry(attempts=2, backoff=Backoff.constant(0.5), on=named, clock=clock)
    assert driver.run(policy, fn) == "ok"
    assert clock.sleeps == [0.5]


def test_an_attempt_timeout_is_retried_but_a_passed_deadline_is_not(
    driver: Driver, clock: VirtualClock
) -> None:
    attempt = brace.TimeoutExceededError("slow", policy="t", timeout=1.0, source="timeout")
    policy = Retry(attempts=3, backoff=Backoff.constant(0.5), clock=clock)
    assert driver.run(policy, failing(attempt)) == "ok"
    whole = brace.TimeoutExceededError("late", policy="t", timeout=5.0, source="deadline")
    fn = failing(whole)
    with pytest.raises(brace.TimeoutExceededError) as info:
        driver.run(policy, fn)
    assert info.value is whole
    assert len(fn.calls) == 1


def test_a_retry_after_header_on_the_exceptions_response_is_used(
    driver: Driver, clock: VirtualClock
) -> None:
    class Response:
        headers = {"Retry-After": "2"}  # noqa: RUF012

    class HTTPStatusError(Exception):
        response = Response()

    fn = failing(HTTPStatusError())
    driver.run(Retry(backoff=Backoff.constant(0.1), clock=clock), fn)
    assert clock.sleeps == [2.0]


def test_a_hook_reads_hints_from_rejected_results(driver: Driver, clock: VirtualClock) -> None:
    responses = iter([(503, "Wed, 15 Nov 2023 00:00:00 GMT"), (503, None), (200, None)])
    # 1_700_000_000 is 2023-11-14T22:13:20Z, so the date is 6400 s ahead of the virtual wall clock.
    policy = Retry(
        attempts=3,
        backoff=Backoff.constant(0.5),
        on_result=lambda r: r[0] == 503,
        respect_retry_after=lambda outcome: outcome[1],  # type: ignore[index]
        clock=clock,
    )
    assert driver.run(policy, lambda: next(responses)) == (200, None)
    assert clock.sleeps == [6400.0, 0.5]


def test_a_hook_that_raises_falls_back_to_the_backoff(driver: Driver, clock: VirtualClock) -> None:
    def hook(outcome: object) -> float:
        raise RuntimeError

    fn = failing(OSError())
    driver.run(Retry(backoff=Backoff.constant(0.1), respect_retry_after=hook, clock=clock), fn)
    assert clock.sleeps == [0.1]


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        (None, None),
        (True, None),
        (2, 2.0),
        (-1.0, 0.0),
        (float("nan"), None),
        (timedelta(seconds=3), 3.0),
        ("120", 120.0),
        ("  7 ", 7.0),
        ("soon", None),
        ("Tue, 14 Nov 2023 22:13:30 GMT", 10.0),
        (datetime(2023, 11, 14, 22, 13, 25, tzinfo=UTC), 5.0),
        (datetime(2023, 11, 14, 22, 13, 25), None),  # noqa: DTZ001 - naive: no usable hint
        (object(), None),
    ],
)
def test_hint_values_convert_to_seconds(hint: object, expected: float | None) -> None:
    assert hint_seconds(hint, lambda: 1_700_000_000.0) == expected


def test_parse_header_rejects_dates_without_a_zone() -> None:
    assert parse_header("Tue, 14 Nov 2023 22:13:30 -0000") is None
