"""Nothing leaks when a listener raises, or Ctrl-C lands between two bytecodes.

A listener is called inside admission (a breaker's OPEN -> HALF_OPEN move, a
bulkhead's Queued event) and after outcomes; whatever it raises, slots and
permits come back. A KeyboardInterrupt delivered by a signal at a random
moment of a sync pipeline (a notebook's "interrupt kernel") leaves no permit,
trial slot or worker count behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import threading
from collections.abc import Callable
from typing import Any

import pytest

import brace
from brace.testing import VirtualClock
from tests.conftest import Driver

#: Real time, for the interrupt test's own pacing (brace code reads time through a clock).
REAL = brace.SystemClock()


@pytest.fixture(autouse=True)
def _no_brace_log() -> Any:
    """brace's own log off: these tests pin brace's cleanup, not the logging module's.

    A KeyboardInterrupt raised by a signal handler between a `logging.Handler`
    taking its lock and entering its ``try`` leaves that lock held, and the next
    thread to log waits forever; that is a limit of the standard library's
    handlers, whoever logs, so the random interrupts here must not land in one.
    """
    brace.configure_logging(enabled=False)
    try:
        yield
    finally:
        brace.configure_logging(enabled=True)


RAISED: list[type[BaseException]] = [
    KeyboardInterrupt,
    SystemExit,
    GeneratorExit,
    asyncio.CancelledError,
    ValueError,
]


class Listener:
    """Raises ``kind`` on the events of type ``on``, once."""

    def __init__(self, kind: type[BaseException], on: type[brace.Event]) -> None:
        self.kind = kind
        self.on = on
        self.fired = False

    def __call__(self, event: brace.Event) -> None:
        if isinstance(event, self.on) and not self.fired:
            self.fired = True
            raise self.kind


def ok() -> str:
    return "ok"


async def aok() -> str:
    return "ok"


def boom() -> None:
    raise ConnectionError("down")


def run(driver: Driver, policy: brace.Policy, fn: Callable[[], Any]) -> Any:
    return driver.run(policy, fn)


def attempt(fn: Callable[[], Any]) -> Any:
    """``fn()``'s result, or whatever it raised (control flow included)."""
    try:
        return fn()
    except BaseException as exc:
        return exc


@pytest.mark.parametrize("kind", RAISED, ids=lambda k: k.__name__)
def test_a_listener_raising_on_the_half_open_move_gives_the_trial_slot_back(
    driver: Driver, clock: VirtualClock, kind: type[BaseException]
) -> None:
    breaker = brace.CircuitBreaker(
        "b", consecutive_failures=1, open_for=10.0, half_open_calls=1, clock=clock
    )
    with pytest.raises(ConnectionError):
        run(driver, breaker, boom)
    clock.advance(10.0)
    listener = Listener(kind, brace.StateChanged)
    with breaker.listen(listener):
        # Control flow propagates; an Exception from a listener is logged and swallowed.
        outcome = attempt(lambda: run(driver, breaker, ok))
    assert outcome == "ok" if issubclass(kind, Exception) else isinstance(outcome, kind)
    assert listener.fired
    assert run(driver, breaker, ok) == "ok"  # the one trial slot was free again
    assert breaker.state is brace.State.CLOSED


@pytest.mark.parametrize("kind", RAISED, ids=lambda k: k.__name__)
@pytest.mark.parametrize(
    "event", [brace.StateChanged, brace.CallRejected], ids=["state-changed", "rejected"]
)
def test_a_listener_raising_on_any_breaker_event_leaves_it_able_to_admit(
    driver: Driver, clock: VirtualClock, kind: type[BaseException], event: type[brace.Event]
) -> None:
    breaker = brace.CircuitBreaker(
        "b", consecutive_failures=2, open_for=5.0, half_open_calls=2, clock=clock
    )
    with breaker.listen(Listener(kind, event)):
        for step in range(12):
            attempt(lambda: run(driver, breaker, boom if step % 3 else ok))
            clock.advance(2.0)
    clock.advance(10.0)
    assert [run(driver, breaker, ok) for _ in range(3)] == ["ok"] * 3
    assert breaker.state is brace.State.CLOSED


@pytest.mark.parametrize("kind", RAISED, ids=lambda k: k.__name__)
def test_a_listener_raising_on_queued_leaves_the_bulkhead_empty(
    kind: type[BaseException],
) -> None:
    bulkhead = brace.Bulkhead("k", max_concurrent=1, max_queue=2, max_wait=5.0)
    inside, leave = threading.Event(), threading.Event()

    def hold() -> None:
        inside.set()
        leave.wait(10)

    holder = threading.Thread(target=bulkhead.call, args=(hold,))
    holder.start()
    inside.wait(10)
    threading.Timer(0.05, leave.set).start()  # the holder leaves soon after we queue
    with bulkhead.listen(Listener(kind, brace.Queued)):
        # A listener's Exception is logged and swallowed: the call waits and runs.
        outcome = attempt(lambda: bulkhead.call(ok))
        queued = bulkhead.metrics().queued
        holder.join(10)
    assert outcome == "ok" if issubclass(kind, Exception) else isinstance(outcome, kind)
    assert queued == 0  # an interrupted waiter left the queue at once
    metrics = bulkhead.metrics()
    assert (metrics.in_flight, metrics.queued) == (0, 0)
    assert bulkhead.call(ok) == "ok"


@pytest.mark.parametrize("kind", RAISED, ids=lambda k: k.__name__)
async def test_a_listener_raising_on_queued_leaves_an_async_bulkhead_empty(
    kind: type[BaseException],
) -> None:
    bulkhead = brace.Bulkhead("k", max_concurrent=1, max_queue=2, max_wait=5.0)
    leave = asyncio.Event()

    async def hold() -> None:
        await leave.wait()

    holder = asyncio.ensure_future(bulkhead.acall(hold))
    await REAL.asleep(0)
    asyncio.get_running_loop().call_later(0.05, leave.set)
    with bulkhead.listen(Listener(kind, brace.Queued)):
        try:
            outcome: object = await bulkhead.acall(aok)  # a listener's Exception is swallowed
        except BaseException as exc:
            outcome = exc
    await holder
    assert outcome == "ok" if issubclass(kind, Exception) else isinstance(outcome, kind)
    metrics = bulkhead.metrics()
    assert (metrics.in_flight, metrics.queued) == (0, 0)


@pytest.mark.parametrize("kind", RAISED, ids=lambda k: k.__name__)
def test_listeners_raising_on_every_event_of_a_pipeline_leak_nothing(
    driver: Driver, clock: VirtualClock, kind: type[BaseException]
) -> None:
    breaker = brace.CircuitBreaker(
        "b", consecutive_failures=2, open_for=1.0, half_open_calls=1, clock=clock
    )
    bulkhead = brace.Bulkhead("k", max_concurrent=2)
    timeout = brace.Timeout(5.0, clock=clock)
    policy = brace.pipeline(
        brace.Fallback(["fallback"]),
        brace.Retry(attempts=2, backoff=[0.0], clock=clock),
        breaker,
        bulkhead,
        timeout,
    )
    rng = random.Random(3)

    def raising(event: brace.Event) -> None:
        if rng.random() < 0.3:
            raise kind

    with brace.listen(raising):
        for _ in range(60):
            attempt(lambda: run(driver, policy, boom if rng.random() < 0.5 else ok))
            clock.advance(rng.choice([0.0, 0.5, 1.0]))
    clock.advance(5.0)
    assert run(driver, policy, ok) == "ok"
    assert bulkhead.metrics().in_flight == 0
    assert breaker.state is brace.State.CLOSED


# -- KeyboardInterrupt between bytecodes -------------------------------------------------


@pytest.mark.skipif(
    not hasattr(signal, "setitimer"), reason="needs signal.setitimer (POSIX) to interrupt"
)
@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signals are delivered to the main thread only",
)
# An interrupt landing inside a weakref or GC callback is reported as "ignored" by Python,
# not raised: that is the interpreter's rule for callbacks, not a leak.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_ctrl_c_at_random_moments_of_a_sync_pipeline_leaks_nothing() -> None:
    # One SIGALRM per call, at a random instant, raising KeyboardInterrupt from its handler:
    # Ctrl-C in a notebook. Another thread calls the same pipeline meanwhile, so the
    # bulkhead queues and grants across threads while the main thread is interrupted.
    clock = VirtualClock()
    breaker = brace.CircuitBreaker(
        "b", consecutive_failures=3, open_for=1.0, half_open_calls=2, clock=clock
    )
    bulkhead = brace.Bulkhead("k", max_concurrent=1, max_queue=4, max_wait=0.05)
    timeout = brace.Timeout(5.0, max_abandoned=64)
    policy = brace.pipeline(brace.Retry(attempts=2, backoff=[0.0]), breaker, bulkhead, timeout)
    rng = random.Random(11)

    def work(fail: bool) -> int:
        if fail:
            raise ConnectionError("down")
        return 1

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    stop = threading.Event()

    def background() -> None:
        local = random.Random(7)
        while not stop.is_set():
            with contextlib.suppress(ConnectionError, brace.BraceError):
                policy.call(work, local.random() < 0.3)

    previous = signal.signal(signal.SIGALRM, interrupt)
    other = threading.Thread(target=background, daemon=True)
    other.start()
    interrupts = 0
    end = REAL.monotonic() + 2.0
    try:
        while REAL.monotonic() < end:
            try:
                signal.setitimer(signal.ITIMER_REAL, rng.uniform(1e-6, 200e-6))
                with contextlib.suppress(ConnectionError, brace.BraceError):
                    policy.call(work, rng.random() < 0.3)
                if rng.random() < 0.05:
                    clock.advance(1.0)
                # Disarm; a signal already pending runs its handler here, inside the try.
                signal.setitimer(signal.ITIMER_REAL, 0)
            except KeyboardInterrupt:
                interrupts += 1
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        stop.set()
        other.join(10)
    assert interrupts > 200, "too few interrupts landed to exercise anything"
    deadline = REAL.monotonic() + 5.0
    while timeout._busy and REAL.monotonic() < deadline:  # workers report back after the call
        REAL.sleep(0.01)
    assert timeout._busy == 0
    metrics = bulkhead.metrics()
    assert (metrics.in_flight, metrics.queued) == (0, 0)
    clock.advance(10.0)
    assert [policy.call(work, False) for _ in range(4)] == [1] * 4  # trials admitted, closed
    assert breaker.state is brace.State.CLOSED
