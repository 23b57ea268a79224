"""The test kit: VirtualClock, no_wait, SystemClock."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

import brace
from brace._clock import SYSTEM_CLOCK, await_wait, wait
from brace.testing import VirtualClock, no_wait


def test_virtual_clock_moves_only_when_advanced_or_slept() -> None:
    clock = VirtualClock(start=10.0, wall_start=1000.0)
    assert clock.monotonic() == 10.0
    assert clock.wall() == 1000.0
    clock.advance(2.5)
    clock.sleep(0.5)
    assert clock.monotonic() == 13.0
    assert clock.wall() == 1003.0
    assert clock.sleeps == [0.5]


def test_virtual_asleep_returns_at_once_with_time_moved() -> None:
    clock = VirtualClock()

    async def main() -> float:
        await clock.asleep(30.0)
        return clock.monotonic()

    assert asyncio.run(main()) == 30.0


def test_virtual_asleep_is_a_cancellation_point() -> None:
    clock = VirtualClock()

    async def main() -> bool:
        task = asyncio.create_task(clock.asleep(5.0))
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return True
        return False

    assert asyncio.run(main())


def test_virtual_clock_rejects_going_backwards() -> None:
    with pytest.raises(brace.ConfigError, match="seconds=-1"):
        VirtualClock().advance(-1)


def test_virtual_clock_is_safe_from_many_threads() -> None:
    clock = VirtualClock()
    barrier = threading.Barrier(4)

    def spin() -> None:
        barrier.wait()
        for _ in range(5_000):
            clock.advance(0.001)
            clock.sleep(0.001)

    threads = [threading.Thread(target=spin) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert pytest.approx(40.0) == clock.monotonic()
    assert len(clock.sleeps) == 20_000


def test_virtual_clock_is_a_clock() -> None:
    assert isinstance(VirtualClock(), brace.Clock)
    assert isinstance(brace.SystemClock(), brace.Clock)


def test_no_wait_skips_policy_waits_in_its_context_only() -> None:
    clock = VirtualClock()
    with no_wait():
        wait(clock, 5.0)
        asyncio.run(await_wait(clock, 5.0))
        other: list[float] = []

        # a thread started inside does not inherit the context: it waits normally
        def in_thread() -> None:
            wait(clock, 1.0)
            other.append(clock.monotonic())

        t = threading.Thread(target=in_thread)
        t.start()
        t.join()
    assert other == [1.0]
    wait(clock, 2.0)
    assert clock.sleeps == [1.0, 2.0]


def test_no_wait_is_inherited_by_tasks_and_copied_contexts() -> None:
    clock = VirtualClock()

    async def main() -> None:
        with no_wait():
            await asyncio.create_task(await_wait(clock, 3.0))
            ctx = contextvars.copy_context()
        ctx.run(wait, clock, 4.0)

    asyncio.run(main())
    assert clock.sleeps == []


def test_system_clock_reads_real_time() -> None:
    a = SYSTEM_CLOCK.monotonic()
    SYSTEM_CLOCK.sleep(0.0)
    asyncio.run(SYSTEM_CLOCK.asleep(0.0))
    assert SYSTEM_CLOCK.monotonic() >= a
    assert SYSTEM_CLOCK.wall() > 1_600_000_000
    assert repr(SYSTEM_CLOCK) == "SystemClock()"
