"""A failed call leaves no reference cycle: the failing frame's locals die with the exception.

The traceback of an exception holds every frame it passed through. If one of
brace's frames also holds the exception (a local, an attribute), the two form a
cycle that only the cyclic GC frees, so the user's locals (a large response
body, say) outlive the call. With the GC disabled, a local of the failing
function must be freed as soon as the caller drops the exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Awaitable, Callable, Iterator

import pytest

import brace
from brace import chaos
from brace.testing import VirtualClock, no_wait
from tests.test_retry import gc_disabled


class Payload:
    """Stands for a big local of the failing function (a response body)."""


class Tracker:
    """Makes payloads and tells how many are still alive."""

    def __init__(self) -> None:
        self.refs: list[weakref.ref[Payload]] = []

    def make(self) -> Payload:
        payload = Payload()
        self.refs.append(weakref.ref(payload))
        return payload

    def alive(self) -> int:
        return sum(ref() is not None for ref in self.refs)


@pytest.fixture
def no_gc() -> Iterator[None]:
    """The cyclic GC disabled while the test runs: only reference counting frees objects."""
    with gc_disabled():
        yield


@pytest.fixture
def tracker(no_gc: None) -> Tracker:
    return Tracker()


def failing(tracker: Tracker) -> Callable[..., None]:
    def fail(*_args: object) -> None:
        local = tracker.make()
        raise ConnectionError(f"down ({type(local).__name__} held by this frame)")

    return fail


def afailing(tracker: Tracker) -> Callable[..., Awaitable[None]]:
    async def fail(*_args: object) -> None:
        local = tracker.make()
        raise ConnectionError(f"down ({type(local).__name__} held by this frame)")

    return fail


def fail_sync(policy: brace.Policy, tracker: Tracker) -> int:
    """Payloads alive right after the caller dropped the exception of a failed call."""
    fn = policy(failing(tracker))
    with no_wait(), contextlib.suppress(Exception):
        fn()
    assert tracker.refs, "the function never ran"
    return tracker.alive()


def fail_async(policy: brace.Policy, tracker: Tracker) -> int:
    fn = policy(afailing(tracker))

    async def main() -> int:
        with no_wait(), contextlib.suppress(Exception):
            await fn()
        return tracker.alive()

    alive = asyncio.run(main())
    assert tracker.refs, "the function never ran"
    return alive


# Each builds its policy from the tracker, so alternatives can hold payloads too.
POLICIES: dict[str, Callable[[Tracker], brace.Policy]] = {
    "Retry": lambda _t: brace.Retry(attempts=3),
    "Timeout": lambda _t: brace.Timeout(5.0),
    "Bulkhead": lambda _t: brace.Bulkhead(max_concurrent=2),
    "CircuitBreaker(closed)": lambda _t: brace.CircuitBreaker(consecutive_failures=5),
    "RateLimiter": lambda _t: brace.RateLimiter(rate=100),
    "Throttle": lambda _t: brace.Throttle(),
    "LastGood(miss)": lambda _t: brace.LastGood(60.0),
    "chaos.Fault(not firing)": lambda _t: chaos.Fault(ValueError, rate=0.0),
    "pipeline": lambda _t: brace.pipeline(
        brace.Fallback([brace.LastGood(60.0)]),
        brace.Retry(attempts=2),
        brace.CircuitBreaker(consecutive_failures=5),
        brace.Bulkhead(max_concurrent=2),
        brace.Timeout(5.0),
    ),
}


@pytest.mark.parametrize("build", POLICIES.values(), ids=POLICIES.keys())
def test_a_failed_sync_call_frees_the_failing_frame_without_the_gc(
    build: Callable[[Tracker], brace.Policy], tracker: Tracker
) -> None:
    assert fail_sync(build(tracker), tracker) == 0


@pytest.mark.parametrize("build", POLICIES.values(), ids=POLICIES.keys())
def test_a_failed_async_call_frees_the_failing_frame_without_the_gc(
    build: Callable[[Tracker], brace.Policy], tracker: Tracker
) -> None:
    assert fail_async(build(tracker), tracker) == 0


def test_a_fallback_whose_alternatives_all_fail_frees_every_frame(tracker: Tracker) -> None:
    policy = brace.Fallback([failing(tracker), failing(tracker)])
    assert fail_sync(policy, tracker) == 0
    assert len(tracker.refs) == 3  # the call and both alternatives ran


def test_an_async_fallback_whose_alternatives_all_fail_frees_every_frame(
    tracker: Tracker,
) -> None:
    policy = brace.Fallback([afailing(tracker), failing(tracker)])
    assert fail_async(policy, tracker) == 0
    assert len(tracker.refs) == 3


def test_a_hedge_whose_attempts_all_fail_frees_every_frame(tracker: Tracker) -> None:
    policy = brace.Hedge(0.01, max_extra=2)
    assert fail_async(policy, tracker) == 0
    assert len(tracker.refs) == 3  # an attempt failing early starts the next at once


class Injected(ConnectionError):
    """A builtin exception cannot be weakly referenced; a subclass can."""


@pytest.mark.usefixtures("no_gc")
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_fault_that_fires_leaves_no_cycle_through_its_exception(mode: str) -> None:
    # The injected exception's traceback reaches the caller's frame: a cycle through it would
    # keep every local of the caller alive too.
    fault = chaos.Fault(Injected("down"), rate=1.0)
    raised: list[weakref.ref[BaseException]] = []

    def caller() -> None:
        try:
            fault(lambda: None)()
        except Injected as exc:
            raised.append(weakref.ref(exc))

    async def acaller() -> None:
        async def never_runs() -> None:
            pass

        try:
            await fault(never_runs)()
        except Injected as exc:
            raised.append(weakref.ref(exc))

    if mode == "sync":
        caller()
    else:
        asyncio.run(acaller())
    assert raised[0]() is None


# -- the documented exception: a tripped breaker keeps its cause ------------------------


def test_a_tripped_breaker_keeps_the_tripping_failure_as_every_rejections_cause(
    tracker: Tracker,
) -> None:
    clock = VirtualClock()
    breaker = brace.CircuitBreaker(
        consecutive_failures=1, open_for=10.0, half_open_calls=1, clock=clock
    )
    fn = breaker(failing(tracker))
    with pytest.raises(ConnectionError) as tripped:
        fn()
    cause = tripped.value
    del tripped
    for _ in range(2):
        with pytest.raises(brace.CircuitOpenError) as rejected:
            fn()
        assert rejected.value.__cause__ is cause
    del rejected, cause
    # Kept on purpose while the breaker is open: the failure explains each rejection.
    assert tracker.alive() == 1
    clock.advance(10.0)
    assert breaker(lambda: "ok")() == "ok"  # the trial succeeds: CLOSED again
    assert brace.State.CLOSED is breaker.state
    assert tracker.alive() == 0  # ... and the cause is let go
