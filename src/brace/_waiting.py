"""Waiting on a policy's clock until something happens or time runs out (Bulkhead, Timeout).

A policy measures its waits on its ``clock``. Whether it can hand the
expiry to a timer depends on who keeps that clock's time:

* The event loop keeps it when the clock is the system clock (asyncio's loop
  time is the monotonic clock) or when the loop is a
  `brace.testing.VirtualEventLoop` bound to this very clock (its ``time()``
  *is* ``clock.monotonic()``, and it moves the clock to its next timer).
  Then the expiry is one loop timer at the exact instant: no polling, and a
  simulation jumps straight to it. (A system-clock policy inside a simulation
  therefore waits in the simulation's time, as `asyncio.sleep` does there.)
* Otherwise nothing tells a waiter that the clock moved: a test advances a
  `brace.testing.VirtualClock` from outside (another thread, or a task on a
  real loop). The waiter must re-read the clock, every `POLL_INTERVAL` real
  seconds (a thread) or loop seconds (a task), and so notices an advance
  past its expiry within that interval. A thread always waits this way under
  a non-system clock: no timer of any loop can wake it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from brace._clock import Clock, SystemClock

__all__ = ["POLL_INTERVAL", "Alarm", "block_until", "loop_keeps_time"]

#: Seconds between two readings of a clock whose time nothing announces.
POLL_INTERVAL = 0.01


def loop_keeps_time(loop: asyncio.AbstractEventLoop, clock: Clock) -> bool:
    """Whether ``loop.time()`` runs with ``clock``, so a loop timer can stand for it."""
    return isinstance(clock, SystemClock) or getattr(loop, "_brace_virtual_clock", None) is clock


class _Acquire(Protocol):
    def __call__(self, blocking: bool = ..., timeout: float = ...) -> bool: ...


def block_until(acquire: _Acquire, clock: Clock, expiry: float, *, poll: bool) -> bool:
    """Block on ``acquire(timeout=...)`` until it succeeds (True) or ``clock`` reaches ``expiry``.

    Returns False once ``clock.monotonic()`` is at or past ``expiry``.

    Args:
        acquire: A blocking acquire taking a timeout in real seconds, such as
            ``threading.Lock().acquire``.
        clock: Where ``expiry`` is measured.
        expiry: The instant on ``clock.monotonic()`` at which to give up.
        poll: Re-read ``clock`` every `POLL_INTERVAL` (a clock that is not
            real time) instead of blocking for the whole remaining wait.
    """
    while True:
        left = expiry - clock.monotonic()
        if left <= 0:
            return False
        if acquire(timeout=min(left, POLL_INTERVAL) if poll else left):
            return True


class Alarm:
    """Calls back on an event loop once its clock reaches an instant.

    ``now`` reads the timeline the instant is given on: the loop's own time
    when the loop keeps the clock's time (``on_loop``; the alarm is then one
    loop timer), else the clock, which the alarm re-reads every
    `POLL_INTERVAL` of loop time.

    Args:
        loop: The running loop that calls back.
        clock: The policy's clock.
    """

    __slots__ = ("_clock", "_fire", "_handle", "_loop", "at", "now", "on_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, clock: Clock) -> None:
        self._loop = loop
        self._clock = clock
        self.on_loop = loop_keeps_time(loop, clock)
        self.now: Callable[[], float] = loop.time if self.on_loop else clock.monotonic
        self._handle: asyncio.Handle | None = None
        self._fire: Callable[[], object] | None = None
        self.at = 0.0

    def start(self, at: float, fire: Callable[[], object]) -> None:
        """Call ``fire()`` on the loop once ``now()`` reaches ``at`` (at once if it has)."""
        self.at = at
        if self.on_loop:
            self._handle = self._loop.call_at(at, fire)
        else:
            self._fire = fire
            self._check()

    def _check(self) -> None:
        if self._clock.monotonic() >= self.at:
            self._handle = None
            fire, self._fire = self._fire, None
            if fire is not None:
                fire()
        else:
            self._handle = self._loop.call_later(POLL_INTERVAL, self._check)

    def cancel(self) -> None:
        """Stop the alarm if it has not gone off; harmless afterwards."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._fire = None
