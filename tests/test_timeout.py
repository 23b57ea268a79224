"""Timeout: structured cancellation in asyncio, abandoned worker threads in sync code."""

from __future__ import annotations

import asyncio
import contextvars
import runpy
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import brace
from brace.testing import EventRecorder, VirtualClock, run
from tests.conftest import Driver
from tests.test_waiting import record_timers

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
checkpoint = brace.SystemClock().asleep


def wait_until_abandoned_calls_finish(timeout: brace.Timeout) -> None:
    # The worker decrements abandoned_running right after the callee returns; poll briefly.
    stop = threading.Event()
    for _ in range(2000):
        if timeout.metrics().abandoned_running == 0:
            return
        stop.wait(0.001)
    raise AssertionError(timeout.metrics())


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """An event blocked sync callees wait on; set at teardown so no worker stays stuck."""
    event = threading.Event()
    yield event
    event.set()


class Hang:
    """A callee that moves the virtual clock past its limit, then hangs until released.

    Sync mode blocks on a threading.Event; async mode awaits forever and records
    whether it saw the cancellation.
    """

    def __init__(self, clock: VirtualClock, seconds: float, release: threading.Event) -> None:
        self.clock, self.seconds, self.release = clock, seconds, release
        self.cancelled = False
        self.finished = threading.Event()

    def sync(self) -> str:
        self.clock.advance(self.seconds)
        self.release.wait()
        self.finished.set()
        return "late"

    async def run(self) -> str:
        self.clock.advance(self.seconds)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return "late"


def call(mode: str, policy: brace.Policy, hang: Hang) -> Any:
    if mode == "sync":
        return policy(hang.sync)()
    return asyncio.run(policy(hang.run)())


modes = pytest.mark.parametrize("mode", ["sync", "async"])


# -- configuration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "param"),
    [
        ((0,), {}, "seconds"),
        ((-1.0,), {}, "seconds"),
        ((float("nan"),), {}, "seconds"),
        ((float("inf"),), {}, "seconds"),
        (("1",), {}, "seconds"),
        ((1.0,), {"max_abandoned": 0}, "max_abandoned"),
        ((1.0,), {"name": ""}, "name"),
    ],
)
def test_bad_configuration_names_the_parameter(
    args: tuple[Any, ...], kwargs: dict[str, Any], param: str
) -> None:
    with pytest.raises(brace.ConfigError, match=param):
        brace.Timeout(*args, **kwargs)


def test_repr_shows_the_configuration() -> None:
    assert repr(brace.Timeout(2.0)) == "brace.Timeout('timeout', seconds=2.0, max_abandoned=32)"


# -- calls within the limit --------------------------------------------------------------


def test_result_and_exceptions_pass_through(driver: Driver) -> None:
    timeout = brace.Timeout(30.0)
    assert driver.run(timeout, lambda: 3) == 3
    assert driver.call(timeout, lambda: 4) == 4
    own = TimeoutError("the callee's own")

    def fail() -> None:
        raise own

    with pytest.raises(TimeoutError) as caught:
        driver.run(timeout, fail)
    assert own is caught.value
    assert brace.TimeoutMetrics(0, 0, 0, 0) == timeout.metrics()


def test_sync_call_runs_in_a_copy_of_the_callers_context() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    var.set("caller")
    clock = VirtualClock()
    seen: list[object] = []

    @brace.Timeout(30.0)
    def probe() -> None:
        seen.extend([var.get(), brace.remaining(), threading.current_thread().name])
        var.set("callee")

    with brace.deadline(10.0, clock=clock):
        probe()
    assert seen == ["caller", 10.0, "brace-timeout-worker"]
    assert var.get() == "caller"


# -- running out of time -----------------------------------------------------------------


@modes
def test_call_past_the_limit_raises_timeout_exceeded(
    mode: str, clock: VirtualClock, release: threading.Event, recorder: EventRecorder
) -> None:
    timeout = brace.Timeout(1.0, name="t", clock=clock)
    hang = Hang(clock, 5.0, release)
    with pytest.raises(brace.TimeoutExceededError) as caught:
        call(mode, timeout, hang)
    assert isinstance(caught.value, TimeoutError)
    assert (caught.value.policy, caught.value.timeout, caught.value.source) == ("t", 1.0, "timeout")
    assert [brace.TimedOut("t", 1.0, "timeout")] == recorder.of(brace.TimedOut)
    assert timeout.metrics().timed_out == 1
    if mode == "async":
        assert hang.cancelled
        assert timeout.metrics().abandoned == 0


def test_sync_timeout_abandons_the_call_and_counts_it(
    clock: VirtualClock, release: threading.Event
) -> None:
    timeout = brace.Timeout(1.0, clock=clock)
    hang = Hang(clock, 5.0, release)
    with pytest.raises(brace.TimeoutExceededError):
        timeout(hang.sync)()
    assert brace.TimeoutMetrics(1, 1, 1, 0) == timeout.metrics()
    release.set()
    hang.finished.wait()
    wait_until_abandoned_calls_finish(timeout)
    assert brace.TimeoutMetrics(1, 1, 0, 0) == timeout.metrics()


def test_sync_timeout_rejects_past_max_abandoned(
    clock: VirtualClock, release: threading.Event, recorder: EventRecorder
) -> None:
    timeout = brace.Timeout(1.0, name="t", max_abandoned=2, clock=clock)
    for _ in range(2):
        with pytest.raises(brace.TimeoutExceededError):
            timeout(Hang(clock, 5.0, release).sync)()
    with pytest.raises(brace.BulkheadFullError, match="max_abandoned=2"):
        timeout.call(lambda: 1)
    assert [brace.BulkheadFull("t", 2, 0)] == recorder.of(brace.BulkheadFull)
    release.set()
    wait_until_abandoned_calls_finish(timeout)
    assert timeout.call(lambda: 1) == 1
    assert brace.TimeoutMetrics(2, 2, 0, 1) == timeout.metrics()


@modes
@pytest.mark.parametrize(
    ("seconds", "deadline", "source", "reported"),
    [(5.0, 1.0, "deadline", 1.0), (1.0, 5.0, "timeout", 1.0)],
)
def test_the_tighter_of_timeout_and_deadline_applies_and_is_reported(  # noqa: PLR0917 - parametrized
    mode: str,
    seconds: float,
    deadline: float,
    source: str,
    reported: float,
    clock: VirtualClock,
    release: threading.Event,
) -> None:
    timeout = brace.Timeout(seconds, clock=clock)
    with (
        brace.deadline(deadline, clock=clock),
        pytest.raises(brace.TimeoutExceededError) as caught,
    ):
        call(mode, timeout, Hang(clock, 10.0, release))
    assert (source, reported) == (caught.value.source, caught.value.timeout)


@modes
@pytest.mark.parametrize(("outer", "inner", "expected"), [(1.0, 5.0, "outer"), (5.0, 1.0, "inner")])
def test_nested_timeouts_the_tighter_one_fires(  # noqa: PLR0917 - parametrized
    mode: str,
    outer: float,
    inner: float,
    expected: str,
    clock: VirtualClock,
    release: threading.Event,
) -> None:
    policy = brace.pipeline(
        brace.Timeout(outer, name="outer", clock=clock),
        brace.Timeout(inner, name="inner", clock=clock),
    )
    # Past the tighter limit only, so only the tighter Timeout can fire.
    hang = Hang(clock, min(outer, inner) + 0.5, release)
    with pytest.raises(brace.TimeoutExceededError) as caught:
        call(mode, policy, hang)
    assert expected == caught.value.policy


# -- asyncio: structured cancellation ------------------------------------------------------


async def test_async_timeout_on_the_system_clock_cancels_the_work() -> None:
    cancelled = asyncio.Event()

    @brace.Timeout(0.001)
    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    with pytest.raises(brace.TimeoutExceededError) as caught:
        await forever()
    assert cancelled.is_set()
    assert caught.value.source == "timeout"


@pytest.mark.parametrize("virtual", [False, True], ids=["system clock", "virtual clock"])
async def test_outer_cancellation_propagates_as_cancelled_error(virtual: bool) -> None:
    # The system clock's scope has its own timer; a virtual clock's is expired by polling.
    timeout = brace.Timeout(30.0, clock=VirtualClock() if virtual else None)
    started = asyncio.Event()

    @timeout
    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.ensure_future(forever())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert timeout.metrics().timed_out == 0


async def test_work_that_delays_its_cancellation_is_waited_for(clock: VirtualClock) -> None:
    steps: list[str] = []

    @brace.Timeout(1.0, clock=clock)
    async def stubborn() -> None:
        clock.advance(2.0)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            steps.append("cancelled")
            for _ in range(5):  # cleanup that takes a while
                await checkpoint(0)
            steps.append("cleaned up")
            raise

    with pytest.raises(brace.TimeoutExceededError):
        await stubborn()
    assert steps == ["cancelled", "cleaned up"]


async def test_shielded_work_times_out_and_finishes_in_the_background(
    clock: VirtualClock,
) -> None:
    finish = asyncio.Event()

    async def inner() -> str:
        await finish.wait()
        return "done"

    task = asyncio.ensure_future(inner())

    @brace.Timeout(1.0, clock=clock)
    async def shielded() -> str:
        clock.advance(2.0)
        return await asyncio.shield(task)

    with pytest.raises(brace.TimeoutExceededError):
        await shielded()
    assert not task.done()
    finish.set()
    assert await task == "done"


async def test_inner_tasks_see_the_cancellation(clock: VirtualClock) -> None:
    seen: list[str] = []

    async def child() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen.append("child cancelled")
            raise

    @brace.Timeout(1.0, clock=clock)
    async def parent() -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(child())
            clock.advance(2.0)

    with pytest.raises(brace.TimeoutExceededError):
        await parent()
    assert seen == ["child cancelled"]


# -- in a simulation (the loop keeps the clock's time) --------------------------------------


def test_async_timeout_in_a_simulation_is_one_timer_at_the_exact_instant(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = VirtualClock(start=100.0)
    timeout = brace.Timeout(2.5, clock=clock)

    async def main() -> tuple[float, list[float]]:
        timers = record_timers(monkeypatch)
        with pytest.raises(brace.TimeoutExceededError) as caught:
            await timeout.acall(clock.asleep, 3600.0)
        assert (caught.value.source, caught.value.timeout) == ("timeout", 2.5)
        return clock.monotonic(), timers

    expired_at, timers = run(main(), clock)
    assert expired_at == 102.5
    assert sorted(timers) == [102.5, 3700.0]  # the limit and the callee's sleep: no polling
    assert timeout.metrics().timed_out == 1


def test_async_timeout_in_a_simulation_shrinks_to_the_deadline_exactly(
    monkeypatch: pytest.MonkeyPatch, recorder: EventRecorder
) -> None:
    clock = VirtualClock(start=100.0)

    @brace.Timeout(5.0, clock=clock)
    async def slow() -> None:
        await clock.asleep(3600.0)

    async def main() -> tuple[float, list[float]]:
        timers = record_timers(monkeypatch)
        with brace.deadline(1.5, clock=clock), pytest.raises(brace.TimeoutExceededError) as caught:
            await slow()
        assert (caught.value.source, caught.value.timeout) == ("deadline", 1.5)
        return clock.monotonic(), timers

    expired_at, timers = run(main(), clock)
    assert expired_at == 101.5
    assert sorted(timers) == [101.5, 3700.0]
    assert [brace.TimedOut("timeout", 1.5, "deadline")] == recorder.of(brace.TimedOut)


def test_async_call_within_the_limit_in_a_simulation_returns_at_its_own_instant() -> None:
    clock = VirtualClock()

    @brace.Timeout(2.0, clock=clock)
    async def work() -> str:
        await clock.asleep(1.0)
        return "done"

    async def main() -> tuple[str, float, float]:
        result = await work()
        returned_at = clock.monotonic()
        await clock.asleep(60.0)  # the cancelled limit must not fire meanwhile
        return result, returned_at, clock.monotonic()

    assert run(main(), clock) == ("done", 1.0, 61.0)


def test_inside_a_deadline_an_expired_entry_is_refused(driver: Driver, clock: VirtualClock) -> None:
    with brace.deadline(1.0, clock=clock):
        clock.advance(1.0)
        with pytest.raises(brace.TimeoutExceededError) as caught:
            driver.run(brace.Timeout(5.0, clock=clock), lambda: 1)
    assert caught.value.source == "deadline"


def test_docs_example_runs() -> None:
    runpy.run_path(str(EXAMPLES / "timeouts.py"), run_name="__main__")


# -- max_abandoned is a bound on threads, under any concurrency -----------------------------


def test_max_abandoned_bounds_threads_left_behind_by_concurrent_callers(
    release: threading.Event,
) -> None:
    # 40 threads call a hung function at once: only max_abandoned may ever be left running.
    timeout = brace.Timeout(0.05, max_abandoned=4)
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(40)

    def caller() -> None:
        start.wait()
        try:
            timeout.call(release.wait)
        except brace.BraceError as exc:
            with lock:
                outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=caller) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    metrics = timeout.metrics()
    assert metrics.abandoned_running <= 4
    assert outcomes.count("TimeoutExceededError") <= 4
    assert outcomes.count("BulkheadFullError") >= 36
    assert metrics.rejected == outcomes.count("BulkheadFullError")
    release.set()
    wait_until_abandoned_calls_finish(timeout)
    assert timeout._busy == 0
    assert timeout.call(lambda: "ok") == "ok"


def test_calls_in_flight_count_against_max_abandoned(release: threading.Event) -> None:
    timeout = brace.Timeout(30.0, max_abandoned=1)
    inside = threading.Event()

    def hold() -> str:
        inside.set()
        release.wait()
        return "done"

    holder = threading.Thread(target=timeout.call, args=(hold,))
    holder.start()
    inside.wait(10)
    with pytest.raises(brace.BulkheadFullError, match="max_abandoned=1"):
        timeout.call(lambda: "second")
    release.set()
    holder.join(10)
    assert timeout.call(lambda: "after") == "after"


def test_a_sync_call_returning_an_awaitable_is_a_type_error() -> None:
    ran = []

    def sneaky() -> Any:
        ran.append(1)
        return checkpoint(0.5)

    with pytest.raises(TypeError, match="returned the awaitable 'coroutine'"):
        brace.Timeout(0.1).call(sneaky)
    assert ran == [1]
