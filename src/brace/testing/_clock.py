"""A clock whose time moves only when a test says so."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import types
from collections.abc import Generator
from datetime import timedelta

from brace import _validate

__all__ = ["VirtualClock"]


@types.coroutine
def _checkpoint() -> Generator[None, None, None]:
    # A bare yield hands control back to the event loop for one turn, which is
    # what asyncio.sleep(0) does, without reading real time.
    yield


class VirtualClock:
    """A `brace.Clock` for tests and simulations: time is a value you advance.

    ``monotonic()`` starts at ``start`` and moves only through `advance` or
    through sleeping: `sleep` and `asleep` return at once with the clock moved
    forward by the requested seconds (``asleep`` still yields to the event
    loop once, so cancellation and other tasks behave as with a real sleep).
    On a `brace.testing.VirtualEventLoop` bound to the clock, ``asleep`` waits
    on a loop timer and the loop moves the time (see `brace.testing.run`).
    ``wall()`` is ``wall_start`` plus the same elapsed time. Safe to share
    between threads.

    Args:
        start: Initial monotonic reading, in seconds. Default 0.
        wall_start: Initial wall-clock reading (Unix seconds). Default
            1_700_000_000, a fixed instant so tests are reproducible.
    """

    __slots__ = ("_lock", "_now", "_wall_offset", "sleeps")

    def __init__(self, start: float = 0.0, *, wall_start: float = 1_700_000_000.0) -> None:
        self._lock = threading.Lock()
        self._now = float(start)
        self._wall_offset = float(wall_start) - self._now
        #: Every duration passed to sleep/asleep, in order; handy for asserting backoff.
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        """The current virtual time."""
        return self._now

    def wall(self) -> float:
        """Virtual Unix time: ``wall_start`` plus the virtual time elapsed."""
        return self._now + self._wall_offset

    def advance(self, seconds: float | timedelta) -> None:
        """Move time forward by ``seconds`` (must be finite and >= 0)."""
        step = _validate.duration("seconds", seconds)
        with self._lock:
            self._now += step

    def sleep(self, seconds: float) -> None:
        """Record the sleep and move time forward; returns at once."""
        with self._lock:
            self.sleeps.append(seconds)
            self._now += max(seconds, 0.0)

    async def asleep(self, seconds: float) -> None:
        """Record the sleep, move time forward and yield to the event loop once.

        On a `brace.testing.VirtualEventLoop` running on this clock, the sleep
        is a loop timer instead: the task waits while the others run, and the
        loop moves time when every task is waiting, so many concurrent tasks
        share one timeline.
        """
        loop = asyncio.events._get_running_loop()
        if loop is not None and getattr(loop, "_brace_virtual_clock", None) is self:
            with self._lock:
                self.sleeps.append(seconds)
            # The loop's time is this clock's, so a loop timer is a sleep in virtual time.
            await asyncio.sleep(max(seconds, 0.0))  # noqa: TID251
            return
        self.sleep(seconds)
        await _checkpoint()

    @contextlib.contextmanager
    def frozen(self) -> Generator[VirtualClock, None, None]:
        """Hold the lock: no other thread can move time inside the block."""
        with self._lock:
            yield self

    def __repr__(self) -> str:
        return f"VirtualClock(now={self._now!r})"
