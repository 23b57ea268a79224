"""Bulkhead: bounded concurrency shared by threads and coroutines, FIFO queue, no leaked permit."""

from __future__ import annotations

import asyncio
import contextlib
import random
import runpy
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

import brace
from brace.testing import EventRecorder, VirtualClock, run
from tests.conftest import Driver
from tests.test_waiting import record_timers

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
checkpoint = brace.SystemClock().asleep


class Holder:
    """Occupies bulkhead slots from background threads until released."""

    def __init__(self, bulkhead: brace.Bulkhead, slots: int = 1) -> None:
        self.release = threading.Event()
        entered = threading.Barrier(slots + 1)

        def hold() -> None:
            entered.wait()
            self.release.wait()

        self.threads = [threading.Thread(target=bulkhead.call, args=(hold,)) for _ in range(slots)]
        for thread in self.threads:
            thread.start()
        entered.wait()

    def done(self) -> None:
        self.release.set()
        for thread in self.threads:
            thread.join()


@pytest.fixture
def on_queued() -> Iterator[Callable[[Callable[[], None]], None]]:
    """Run an action in a helper thread as soon as a call is queued."""
    threads: list[threading.Thread] = []
    subs: list[brace.Subscription] = []

    def register(action: Callable[[], None]) -> None:
        def listener(event: brace.Event) -> None:
            if isinstance(event, brace.Queued):
                thread = threading.Thread(target=action)
                threads.append(thread)
                thread.start()

        subs.append(brace.listen(listener))

    yield register
    for sub in subs:
        sub.remove()
    for thread in threads:
        thread.join()


def assert_empty(bulkhead: brace.Bulkhead) -> None:
    metrics = bulkhead.metrics()
    assert (metrics.in_flight, metrics.queued) == (0, 0)
    permits = bulkhead._permits
    assert bulkhead.max_concurrent == len(permits.free) + permits.reserve


# -- configuration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"max_concurrent": 0}, "max_concurrent"),
        ({"max_concurrent": -1}, "max_concurrent"),
        ({"max_concurrent": 1.5}, "max_concurrent"),
        ({"max_concurrent": True}, "max_concurrent"),
        ({"max_concurrent": 1, "max_queue": -1, "max_wait": 1.0}, "max_queue"),
        ({"max_concurrent": 1, "max_queue": 1, "max_wait": -1.0}, "max_wait"),
        ({"max_concurrent": 1, "max_queue": 1, "max_wait": float("nan")}, "max_wait"),
        ({"max_concurrent": 1, "max_queue": 1, "max_wait": float("inf")}, "max_wait"),
        ({"max_concurrent": 1, "max_queue": 1}, "max_wait"),
        ({"max_concurrent": 1, "max_wait": 1.0}, "max_wait"),
    ],
)
def test_bad_configuration_names_the_parameter(kwargs: dict[str, Any], param: str) -> None:
    with pytest.raises(brace.ConfigError, match=param):
        brace.Bulkhead("b", **kwargs)


def test_repr_and_describe_show_the_configuration() -> None:
    bulkhead = brace.Bulkhead("inv", max_concurrent=3, max_queue=2, max_wait=0.5)
    assert repr(bulkhead) == "brace.Bulkhead('inv', max_concurrent=3, max_queue=2, max_wait=0.5)"
    assert brace.Bulkhead(max_concurrent=1).name == "bulkhead"


# -- single calls ------------------------------------------------------------------------


def test_result_passes_through_and_the_slot_comes_back(driver: Driver) -> None:
    bulkhead = brace.Bulkhead("b", max_concurrent=1)
    assert driver.run(bulkhead, lambda: 42) == 42
    assert driver.call(bulkhead, lambda: 7) == 7
    assert_empty(bulkhead)
    assert bulkhead.metrics().max_in_flight == 1


def test_exception_passes_through_and_the_slot_comes_back(driver: Driver) -> None:
    bulkhead = brace.Bulkhead("b", max_concurrent=1)
    error = KeyError("x")

    def fail() -> None:
        raise error

    with pytest.raises(KeyError) as caught:
        driver.run(bulkhead, fail)
    assert error is caught.value
    assert_empty(bulkhead)


def test_full_bulkhead_rejects_at_once(driver: Driver, recorder: EventRecorder) -> None:
    bulkhead = brace.Bulkhead("inv", max_concurrent=2)
    holder = Holder(bulkhead, slots=2)
    try:
        with pytest.raises(brace.BulkheadFullError) as caught:
            driver.run(bulkhead, lambda: 1)
    finally:
        holder.done()
    assert caught.value.policy == "inv"
    assert [brace.BulkheadFull("inv", 2, 0)] == recorder.of(brace.BulkheadFull)
    assert bulkhead.metrics().rejected == 1
    assert_empty(bulkhead)


def test_expired_deadline_is_checked_on_entry(driver: Driver, clock: VirtualClock) -> None:
    bulkhead = brace.Bulkhead("b", max_concurrent=1)
    with brace.deadline(1.0, clock=clock):
        clock.advance(2.0)
        with pytest.raises(brace.TimeoutExceededError) as caught:
            driver.run(bulkhead, lambda: 1)
    assert caught.value.source == "deadline"
    assert_empty(bulkhead)


# -- waiting -----------------------------------------------------------------------------


def test_queued_call_runs_when_a_slot_frees(
    driver: Driver, recorder: EventRecorder, on_queued: Callable[[Callable[[], None]], None]
) -> None:
    bulkhead = brace.Bulkhead("b", max_concurrent=1, max_queue=1, max_wait=30.0)
    holder = Holder(bulkhead)
    on_queued(holder.done)
    assert driver.run(bulkhead, lambda: 5) == 5
    assert [brace.Queued("b", 1)] == recorder.of(brace.Queued)
    assert bulkhead.metrics().max_queued == 1
    assert_empty(bulkhead)


def test_max_wait_passing_raises_bulkhead_full(
    driver: Driver, clock: VirtualClock, on_queued: Callable[[Callable[[], None]], None]
) -> None:
    bulkhead = brace.Bulkhead("b", max_concurrent=1, max_queue=1, max_wait=5.0, clock=clock)
    holder = Holder(bulkhead)
    on_queued(lambda: clock.advance(5.0))
    try:
        with pytest.raises(brace.BulkheadFullError):
            driver.run(bulkhead, lambda: 1)
    finally:
        holder.done()
    assert bulkhead.metrics().rejected == 1
    assert_empty(bulkhead)


def test_deadline_passing_while_queued_raises_timeout(
    driver: Driver,
    clock: VirtualClock,
    recorder: EventRecorder,
    on_queued: Callable[[Callable[[], None]], None],
) -> None:
    bulkhead = brace.Bulkhead("b", max_concurrent=1, max_queue=1, max_wait=5.0, clock=clock)
    holder = Holder(bulkhead)
    on_queued(lambda: clock.advance(1.0))
    try:
        with brace.deadline(1.0, clock=clock), pytest.raises(brace.TimeoutExceededError) as caught:
            driver.run(bulkhead, lambda: 1)
    finally:
        holder.done()
    assert (caught.value.source, caught.value.timeout) == ("deadline", 1.0)
    assert [brace.TimedOut("b", 1.0, "deadline")] == recorder.of(brace.TimedOut)
    assert bulkhead.metrics().rejected == 0
    assert_empty(bulkhead)


def test_full_queue_rejects_at_once(
    clock: VirtualClock, on_queued: Callable[[Callable[[], None]], None]
) -> None:
    bulkhead = brace.Bulkhead("b", max_concurrent=1, max_queue=1, max_wait=5.0, clock=clock)
    holder = Holder(bulkhead)
    queued = threading.Event()
    on_queued(queued.set)
    waiter = threading.Thread(target=bulkhead.call, args=(lambda: None,))
    waiter.start()
    queued.wait()
    try:
        with pytest.raises(brace.BulkheadFullError, match="1 of 1 queued"):
            bulkhead.call(lambda: 1)
    finally:
        holder.done()
        waiter.join()
    assert_empty(bulkhead)


def test_waiters_enter_in_arrival_order() -> None:
    bulkhead = brace.Bulkhead("b", max_concurrent=1, max_queue=4, max_wait=30.0)
    holder = Holder(bulkhead)
    order: list[int] = []
    threads = []
    queued = threading.Event()

    def on_queued(event: brace.Event) -> None:
        if isinstance(event, brace.Queued):
            queued.set()

    for index in range(4):
        queued.clear()
        with brace.listen(on_queued):
            thread = threading.Thread(target=bulkhead.call, args=(order.append, index))
            thread.start()
            queued.wait()
        threads.append(thread)
    holder.done()
    for thread in threads:
        thread.join()
    assert order == [0, 1, 2, 3]
    assert_empty(bulkhead)


async def test_cancelled_waiter_leaves_the_queue_and_takes_no_slot() -> None:
    bulkhead = brace.Bulkhead("b", max_concurrent=1, max_queue=1, max_wait=30.0)
    holder = Holder(bulkhead)

    async def work() -> int:
        return 1

    task = asyncio.ensure_future(bulkhead.acall(work))
    while bulkhead.metrics().queued == 0:
        await checkpoint(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert bulkhead.metrics().queued == 0
    holder.done()
    assert_empty(bulkhead)
    assert await bulkhead.acall(work) == 1


async def test_cancelled_running_call_gives_its_slot_back() -> None:
    bulkhead = brace.Bulkhead("b", max_concurrent=1)
    started = asyncio.Event()

    @bulkhead
    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.ensure_future(forever())
    await started.wait()
    assert bulkhead.metrics().in_flight == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert_empty(bulkhead)


def test_waiter_granted_as_it_gives_up_passes_the_permit_on() -> None:
    # Drive the race deterministically: grant a queued waiter, then let it settle as if
    # its wait had just ended; the permit must reach the next waiter, not vanish.
    from brace._bulkhead_queue import ENTER, QUEUE, ThreadWaiter

    bulkhead = brace.Bulkhead("b", max_concurrent=1, max_queue=2, max_wait=30.0)
    permits = bulkhead._permits
    clock = brace.SystemClock()
    holder, first, second = (ThreadWaiter(clock, poll=False) for _ in range(3))
    assert permits.enqueue(holder) == ENTER
    assert permits.enqueue(first) == QUEUE
    assert permits.enqueue(second) == QUEUE
    permits.release()
    assert (first.granted, second.granted) == (True, False)
    permits.settle(first)
    assert second.granted
    permits.settle(first)  # settling twice passes on nothing more
    permits.release()
    assert_empty(bulkhead)


# -- in a simulation (the loop keeps the clock's time) --------------------------------------


def occupy(bulkhead: brace.Bulkhead, clock: VirtualClock, seconds: float) -> asyncio.Task[None]:
    """A task that holds one slot for ``seconds`` of virtual time (enters on the next turn)."""
    return asyncio.ensure_future(bulkhead.acall(clock.asleep, seconds))


async def give_up_behind_a_holder(
    bulkhead: brace.Bulkhead,
    clock: VirtualClock,
    error: type[Exception],
    within: AbstractContextManager[object] | None = None,
) -> tuple[Exception, float]:
    """Queue behind a 60 s call, expect ``error``; (the error, when it came). ``within`` the wait."""
    holder = occupy(bulkhead, clock, 60.0)
    await checkpoint(0)
    with within or contextlib.nullcontext(), pytest.raises(error) as caught:
        await bulkhead.acall(clock.asleep, 1.0)
    gave_up_at = clock.monotonic()
    await holder
    return caught.value, gave_up_at


def test_async_waiter_in_a_simulation_gives_up_exactly_at_max_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = VirtualClock(start=10.0)
    bulkhead = brace.Bulkhead("b", max_concurrent=1, max_queue=1, max_wait=5.0, clock=clock)

    async def main() -> tuple[float, list[float]]:
        timers = record_timers(monkeypatch)
        _, gave_up_at = await give_up_behind_a_holder(bulkhead, clock, brace.BulkheadFullError)
        return gave_up_at, timers

    gave_up_at, timers = run(main(), clock)
    assert gave_up_at == 15.0
    assert sorted(timers) == [15.0, 70.0]  # the holder's sleep and the waiter's max_wait
    assert bulkhead.metrics().rejected == 1
    assert_empty(bulkhead)


def test_async_waiter_whose_deadline_passes_in_a_simulation_gets_timeout_exceeded(
    monkeypatch: pytest.MonkeyPatch, recorder: EventRecorder
) -> None:
    clock = VirtualClock(start=10.0)
    bulkhead = brace.Bulkhead("b", max_concurrent=1, max_queue=1, max_wait=5.0, clock=clock)

    async def main() -> tuple[Exception, float, list[float]]:
        timers = record_timers(monkeypatch)
        within = brace.deadline(1.5, clock=clock)
        error, gave_up_at = await give_up_behind_a_holder(
            bulkhead, clock, brace.TimeoutExceededError, within
        )
        return error, gave_up_at, timers

    error, gave_up_at, timers = run(main(), clock)
    assert isinstance(error, brace.TimeoutExceededError)
    assert (error.source, error.timeout) == ("deadline", 1.5)
    assert gave_up_at == 11.5
    assert sorted(timers) == [11.5, 70.0]
    assert [brace.TimedOut("b", 1.5, "deadline")] == recorder.of(brace.TimedOut)
    assert bulkhead.metrics().rejected == 0
    assert_empty(bulkhead)


async def _now(clock: VirtualClock) -> float:
    return clock.monotonic()


def test_async_waiter_in_a_simulation_enters_the_instant_a_slot_frees() -> None:
    clock = VirtualClock(start=10.0)
    bulkhead = brace.Bulkhead("b", max_concurrent=1, max_queue=1, max_wait=5.0, clock=clock)

    async def main() -> float:
        holder = occupy(bulkhead, clock, 2.0)
        await checkpoint(0)
        entered_at = await bulkhead.acall(_now, clock)
        await holder
        await clock.asleep(60.0)  # the waiter's cancelled max_wait must not fire meanwhile
        return entered_at

    assert run(main(), clock) == 12.0
    assert bulkhead.metrics().rejected == 0
    assert_empty(bulkhead)


def test_queue_in_a_simulation_drains_fifo_on_exact_instants() -> None:
    # 2 slots, 12 one-second calls, waits of at most 3.5 s: two enter every second until
    # the last four give up together at 3.5.
    clock = VirtualClock()
    bulkhead = brace.Bulkhead("b", max_concurrent=2, max_queue=10, max_wait=3.5, clock=clock)

    async def one() -> float:
        async def work() -> float:
            entered_at = clock.monotonic()
            await clock.asleep(1.0)
            return entered_at

        try:
            return await bulkhead.acall(work)
        except brace.BulkheadFullError:
            return -clock.monotonic()

    async def main() -> list[float]:
        return list(await asyncio.gather(*(one() for _ in range(12))))

    assert run(main(), clock) == [0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0] + [-3.5] * 4
    metrics = bulkhead.metrics()
    assert (metrics.rejected, metrics.max_queued, metrics.max_in_flight) == (4, 10, 2)
    assert_empty(bulkhead)


# -- threads and an event loop at once ------------------------------------------------------


def test_one_bulkhead_bounds_threads_and_tasks_together() -> None:
    bulkhead = brace.Bulkhead("shared", max_concurrent=3, max_queue=512, max_wait=30.0)
    lock = threading.Lock()
    inside = [0, 0]  # now, max

    def enter() -> None:
        with lock:
            inside[0] += 1
            inside[1] = max(inside)

    def leave() -> None:
        with lock:
            inside[0] -= 1

    @bulkhead
    def sync_work() -> None:
        enter()
        for _ in range(200):
            pass
        leave()

    @bulkhead
    async def async_work() -> None:
        enter()
        await checkpoint(0)
        leave()

    async def tasks() -> None:
        await asyncio.gather(*(async_work() for _ in range(400)))

    threads = [threading.Thread(target=lambda: [sync_work() for _ in range(200)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    asyncio.run(tasks())
    for thread in threads:
        thread.join()
    assert inside[1] <= 3
    assert bulkhead.metrics().max_in_flight <= 3
    assert bulkhead.metrics().rejected == 0
    assert_empty(bulkhead)


def test_no_permit_leaks_under_random_cancellations_and_timeouts() -> None:
    rng = random.Random(5)
    bulkhead = brace.Bulkhead("stress", max_concurrent=4, max_queue=8, max_wait=0.002)
    inside = [0]
    lock = threading.Lock()
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # interleave the threads as much as possible

    def sync_work(fail: bool) -> None:
        with lock:
            inside[0] += 1
            assert inside[0] <= 4
        with lock:
            inside[0] -= 1
        if fail:
            raise ValueError

    def thread_main(seed: int) -> None:
        local = random.Random(seed)
        for _ in range(400):
            try:
                bulkhead.call(sync_work, local.random() < 0.2)
            except (ValueError, brace.BulkheadFullError) as exc:
                count(type(exc).__name__)

    async def async_work(steps: int) -> None:
        with lock:
            inside[0] += 1
            assert inside[0] <= 4
        try:
            for _ in range(steps):
                await checkpoint(0)
        finally:
            with lock:
                inside[0] -= 1

    outcomes: dict[str, int] = {}

    def count(kind: str) -> None:
        with lock:
            outcomes[kind] = outcomes.get(kind, 0) + 1

    async def one(timeout: brace.Timeout) -> None:
        try:
            await timeout.acall(bulkhead.acall, async_work, rng.randrange(30))
        except (brace.BulkheadFullError, brace.TimeoutExceededError) as exc:
            count(type(exc).__name__)
        except asyncio.CancelledError:
            count("cancelled")
            raise

    async def loop_main() -> None:
        timeouts = [brace.Timeout(s) for s in (0.0005, 0.001, 0.01, 30.0)]
        for _ in range(100):
            tasks = [asyncio.ensure_future(one(rng.choice(timeouts))) for _ in range(40)]
            for _ in range(rng.randrange(30)):
                await checkpoint(0)
            for task in rng.sample(tasks, 10):
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    threads = [threading.Thread(target=thread_main, args=(seed,)) for seed in range(3)]
    try:
        for thread in threads:
            thread.start()
        asyncio.run(loop_main())
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(previous)
    assert inside[0] == 0
    assert_empty(bulkhead)
    assert bulkhead.metrics().max_in_flight <= 4
    # Every way a call can end was exercised, many times.
    kinds = {"ValueError", "BulkheadFullError", "TimeoutExceededError", "cancelled"}
    assert kinds == {kind for kind, n in outcomes.items() if n >= 10}, outcomes


def test_docs_example_runs() -> None:
    runpy.run_path(str(EXAMPLES / "bulkhead.py"), run_name="__main__")
