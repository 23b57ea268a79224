"""Deadlines: contextvars scoping, nesting, propagation, entry checks, bad input."""

from __future__ import annotations

import asyncio
import contextvars
import math
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

import brace
from brace.testing import VirtualClock
from tests.conftest import Driver


class Counting(brace.Policy):
    def __init__(self) -> None:
        super().__init__("counting")
        self.calls = 0

    def _wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return fn(*args, **kwargs)

        return counted

    def _awrap(self, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return await fn(*args, **kwargs)

        return counted


def test_remaining_is_none_outside_any_deadline() -> None:
    assert brace.remaining() is None


def test_remaining_counts_down_on_the_given_clock(clock: VirtualClock) -> None:
    with brace.deadline(5.0, clock=clock):
        assert brace.remaining() == 5.0
        clock.advance(2.0)
        assert brace.remaining() == 3.0
        clock.advance(10.0)
        assert brace.remaining() == 0.0
    assert brace.remaining() is None


def test_timedelta_is_accepted(clock: VirtualClock) -> None:
    with brace.deadline(timedelta(milliseconds=1500), clock=clock):
        assert brace.remaining() == 1.5


def test_nested_deadline_keeps_the_earlier(clock: VirtualClock) -> None:
    with brace.deadline(5.0, clock=clock):
        with brace.deadline(10.0, clock=clock):
            assert brace.remaining() == 5.0
        with brace.deadline(2.0, clock=clock):
            assert brace.remaining() == 2.0
        assert brace.remaining() == 5.0


def test_deadline_object_is_reusable_and_reentrant(clock: VirtualClock) -> None:
    budget = brace.deadline(4.0, clock=clock)
    with budget:
        clock.advance(1.0)
        with budget:  # re-entering starts a fresh 4 s, but the outer 3 s left wins
            assert brace.remaining() == 3.0
        assert brace.remaining() == 3.0
    with budget:
        assert brace.remaining() == 4.0
    assert repr(budget) == "brace.deadline(4.0)"


def test_policies_refuse_calls_once_the_deadline_has_passed(
    driver: Driver, clock: VirtualClock
) -> None:
    policy = Counting()
    with brace.deadline(1.0, clock=clock):
        assert driver.run(policy, lambda: 1) == 1
        clock.advance(1.0)
        with pytest.raises(brace.TimeoutExceededError) as info:
            driver.run(policy, lambda: 1)
        with pytest.raises(brace.TimeoutExceededError):
            driver.call(policy, lambda: 1)
    assert policy.calls == 1
    assert info.value.source == "deadline"
    assert info.value.timeout == 1.0
    assert info.value.policy == "counting"
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value, brace.RejectedError)


def test_expired_deadline_stops_before_inner_policies(clock: VirtualClock) -> None:
    outer, inner = Counting(), Counting()
    calls = 0

    def work() -> None:
        nonlocal calls
        calls += 1

    with brace.deadline(0.0, clock=clock), pytest.raises(brace.TimeoutExceededError):
        brace.pipeline(outer, inner)(work)()
    assert (outer.calls, inner.calls, calls) == (0, 0, 0)


def test_deadline_follows_into_asyncio_tasks(clock: VirtualClock) -> None:
    async def child() -> float | None:
        return brace.remaining()

    async def main() -> list[float | None]:
        with brace.deadline(3.0, clock=clock):
            task = asyncio.create_task(child())
            inside = await asyncio.gather(task, child())
        outside = await asyncio.create_task(child())
        return [*inside, outside]

    assert asyncio.run(main()) == [3.0, 3.0, None]


def test_deadlines_are_isolated_between_concurrent_tasks(clock: VirtualClock) -> None:
    async def worker(seconds: float, gate: asyncio.Event) -> float | None:
        with brace.deadline(seconds, clock=clock):
            await gate.wait()
            return brace.remaining()

    async def main() -> list[float | None]:
        gate = asyncio.Event()
        tasks = [asyncio.create_task(worker(s, gate)) for s in (1.0, 2.0, 3.0)]
        await asyncio.sleep(0)  # noqa: TID251 - a bare loop turn, not a timed wait
        gate.set()
        return list(await asyncio.gather(*tasks))

    assert asyncio.run(main()) == [1.0, 2.0, 3.0]


def test_deadline_follows_a_copied_context_into_threads(clock: VirtualClock) -> None:
    with brace.deadline(2.0, clock=clock):
        ctx = contextvars.copy_context()
    seen: list[float | None] = []
    thread = threading.Thread(target=lambda: seen.append(ctx.run(brace.remaining)))
    thread.start()
    thread.join()
    with ThreadPoolExecutor(1) as pool:
        bare = pool.submit(brace.remaining).result()
    assert seen == [2.0]
    assert bare is None


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf, -math.inf, "5", None, True])
def test_bad_deadlines_fail_at_construction(bad: object) -> None:
    with pytest.raises(brace.ConfigError, match=r"seconds="):
        brace.deadline(bad)  # type: ignore[arg-type]


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="expected"):
        brace.deadline(-5)


def test_one_deadline_object_shared_by_concurrent_tasks(clock: VirtualClock) -> None:
    shared = brace.deadline(5.0, clock=clock)

    async def handler(gate: asyncio.Event, order: list[str], name: str) -> float | None:
        with shared:
            order.append(f"enter {name}")
            await gate.wait()
        order.append(f"exit {name}")
        return brace.remaining()

    async def main() -> tuple[list[float | None], list[str]]:
        gate, order = asyncio.Event(), list[str]()
        first = asyncio.create_task(handler(gate, order, "a"))
        await asyncio.sleep(0)  # noqa: TID251 - a loop turn so "a" enters first
        second = asyncio.create_task(handler(gate, order, "b"))
        await asyncio.sleep(0)  # noqa: TID251
        gate.set()
        return list(await asyncio.gather(first, second)), order

    results, order = asyncio.run(main())
    assert results == [None, None]  # each task left its own block: no deadline remains
    assert order == ["enter a", "enter b", "exit a", "exit b"]
    with shared:
        assert brace.remaining() == 5.0
    assert brace.remaining() is None


def test_one_deadline_object_shared_by_threads(clock: VirtualClock) -> None:
    shared = brace.deadline(5.0, clock=clock)
    barrier = threading.Barrier(4, timeout=10)
    seen: list[float | None] = []
    lock = threading.Lock()

    def work() -> None:
        with shared:
            barrier.wait()
        with lock:
            seen.append(brace.remaining())

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [None] * 4


# -- a Timeout is a deadline for what runs inside it ---------------------------------------


def test_remaining_inside_a_timeout_is_the_timeout(driver: Driver, clock: VirtualClock) -> None:
    timeout = brace.Timeout(0.3, clock=clock)
    assert driver.run(timeout, brace.remaining) == pytest.approx(0.3)


def test_remaining_inside_a_timeout_is_the_tighter_bound(
    driver: Driver, clock: VirtualClock
) -> None:
    with brace.deadline(5.0, clock=clock):
        assert driver.run(brace.Timeout(0.3, clock=clock), brace.remaining) == pytest.approx(0.3)
    with brace.deadline(0.2, clock=clock):
        assert driver.run(brace.Timeout(0.3, clock=clock), brace.remaining) == pytest.approx(0.2)
    assert brace.remaining() is None  # nothing stays in force after the call


def test_an_inner_policy_stops_at_the_timeout_it_runs_in(clock: VirtualClock) -> None:
    # A Retry inside a Timeout gives up rather than sleep past the timeout, and says so.
    retry = brace.Retry(attempts=5, backoff=brace.Backoff.constant(0.2), clock=clock)
    policy = brace.pipeline(brace.Timeout(0.3, clock=clock), retry)
    calls = 0

    def fail() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("down")

    with pytest.raises(ConnectionError) as info:
        policy.call(fail)
    assert calls == 2  # waiting 0.2 s a second time would pass the 0.3 s timeout
    assert "would pass the deadline" in info.value.__notes__[0]


def test_an_expired_timeout_inside_reports_timeout_as_its_source(clock: VirtualClock) -> None:
    inner = brace.Bulkhead("inner", max_concurrent=1)

    def late() -> None:
        clock.advance(1.0)
        inner.call(lambda: None)  # enters after the timeout's time is up

    with pytest.raises(brace.TimeoutExceededError) as info:
        brace.Timeout(0.5, clock=clock).call(late)
    assert (info.value.source, info.value.timeout, info.value.policy) == ("timeout", 0.5, "inner")


# -- exits are paired with entries --------------------------------------------------------


def test_a_deadline_left_out_of_order_raises_instead_of_mispairing() -> None:
    def stream() -> Iterator[int]:
        with brace.deadline(0.5):
            yield 1
            yield 2

    def scenario() -> None:
        items = stream()
        next(items)  # the producer's deadline is now current in the consumer
        with brace.deadline(30.0):
            assert brace.remaining() == pytest.approx(0.5, abs=0.1)  # the earlier one holds
            with pytest.raises(RuntimeError, match="left out of order"):
                list(items)  # the producer leaves its block while the consumer's is open
        assert brace.remaining() is None  # the producer's block is gone, not left in force

    contextvars.copy_context().run(scenario)
    assert brace.remaining() is None


def test_a_deadline_left_in_another_context_raises() -> None:
    block = brace.deadline(5.0)
    entered = contextvars.copy_context()
    entered.run(block.__enter__)
    with pytest.raises(RuntimeError, match="out of order"):
        block.__exit__(None, None, None)  # this context never entered it


def test_nested_entries_of_one_deadline_object_leave_in_order(clock: VirtualClock) -> None:
    block = brace.deadline(5.0, clock=clock)
    with block:
        clock.advance(1.0)
        with block:
            assert brace.remaining() == pytest.approx(4.0)
        assert brace.remaining() == pytest.approx(4.0)
    assert brace.remaining() is None
