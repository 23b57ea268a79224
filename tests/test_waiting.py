"""Waiting on a policy's clock: loop timers where the loop keeps its time, polling elsewhere."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from contextvars import Context

import pytest

import brace
from brace._waiting import POLL_INTERVAL, Alarm, block_until, loop_keeps_time
from brace.testing import VirtualClock, run


def record_timers(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """From now on, record the instant of every timer the running loop schedules.

    ``call_later`` and `asyncio.timeout` go through ``call_at``, so a policy
    that polled its clock would show up here as a train of timers.
    """
    loop = asyncio.get_running_loop()
    instants: list[float] = []
    schedule = loop.call_at

    def call_at(
        when: float,
        callback: Callable[..., object],
        *args: object,
        context: Context | None = None,
    ) -> asyncio.TimerHandle:
        instants.append(when)
        return schedule(when, callback, *args, context=context)

    monkeypatch.setattr(loop, "call_at", call_at)
    return instants


def test_a_virtual_loop_keeps_the_time_of_its_own_clock_and_the_system_clock() -> None:
    clock = VirtualClock()

    async def main() -> tuple[bool, bool, bool]:
        loop = asyncio.get_running_loop()
        return (
            loop_keeps_time(loop, clock),
            loop_keeps_time(loop, brace.SystemClock()),
            loop_keeps_time(loop, VirtualClock()),
        )

    assert run(main(), clock) == (True, True, False)


async def test_a_real_loop_keeps_only_the_system_clocks_time() -> None:
    loop = asyncio.get_running_loop()
    assert loop_keeps_time(loop, brace.SystemClock())
    assert not loop_keeps_time(loop, VirtualClock())


def test_alarm_on_a_loop_that_keeps_time_is_one_timer_at_the_instant(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = VirtualClock(start=7.0)

    async def main() -> tuple[list[float], list[float]]:
        timers = record_timers(monkeypatch)
        alarm = Alarm(asyncio.get_running_loop(), clock)
        fired: list[float] = []
        alarm.start(alarm.now() + 2.5, lambda: fired.append(clock.monotonic()))
        await clock.asleep(10.0)
        return fired, timers

    fired, timers = run(main(), clock)
    assert fired == [9.5]
    assert timers == [9.5, 17.0]


def test_cancelled_alarm_never_fires() -> None:
    clock = VirtualClock()

    async def main() -> list[str]:
        fired: list[str] = []
        alarm = Alarm(asyncio.get_running_loop(), clock)
        alarm.start(1.0, lambda: fired.append("fired"))
        alarm.cancel()
        await clock.asleep(5.0)
        alarm.cancel()  # harmless twice
        return fired

    assert run(main(), clock) == []


async def test_alarm_under_a_clock_the_loop_does_not_keep_polls_it() -> None:
    clock = VirtualClock()
    alarm = Alarm(asyncio.get_running_loop(), clock)
    assert not alarm.on_loop
    rang = asyncio.Event()
    alarm.start(alarm.now() + 5.0, rang.set)
    assert not rang.is_set()
    clock.advance(5.0)  # nothing tells the loop: the alarm notices on its next reading
    await asyncio.wait_for(rang.wait(), timeout=100 * POLL_INTERVAL)
    alarm.cancel()


async def test_polled_alarm_past_its_instant_fires_at_once_and_cancel_stops_polling() -> None:
    clock = VirtualClock(start=3.0)
    alarm = Alarm(asyncio.get_running_loop(), clock)
    fired: list[str] = []
    alarm.start(1.0, lambda: fired.append("fired"))
    assert fired == ["fired"]
    alarm.cancel()
    other = Alarm(asyncio.get_running_loop(), clock)
    other.start(10.0, lambda: fired.append("late"))
    poll = other._handle
    other.cancel()
    assert poll is not None
    assert poll.cancelled()
    assert fired == ["fired"]


def test_block_until_returns_true_once_acquired() -> None:
    lock = threading.Lock()
    assert block_until(lock.acquire, VirtualClock(), 5.0, poll=True)
    lock.release()


def test_block_until_gives_up_when_another_thread_moves_the_clock_past_expiry() -> None:
    clock = VirtualClock()
    lock = threading.Lock()
    lock.acquire()
    mover = threading.Thread(target=clock.advance, args=(5.0,))
    mover.start()
    assert not block_until(lock.acquire, clock, 5.0, poll=True)
    mover.join()
    assert clock.monotonic() == 5.0


def test_block_until_past_expiry_returns_false_without_blocking() -> None:
    lock = threading.Lock()
    lock.acquire()
    assert not block_until(lock.acquire, VirtualClock(start=2.0), 1.0, poll=False)
