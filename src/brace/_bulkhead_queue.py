"""The bulkhead's permits and its FIFO of waiters, shared by threads and tasks of any loop.

Free permits are items of a deque, so taking one (``pop``) and giving one back
(``append``) are single atomic operations: the fast path takes no lock. A
bulkhead allowing many calls does not pay memory per permit: only a few are
made up front, the rest stay a count (``reserve``) that the locked slow path
turns into items as needed; the deque then holds at most as many items as
calls were ever inside at once.

Everything else (the waiters, the reserve, the counters) sits behind one
`threading.Lock` held for a few bytecodes, so a coroutine taking it never
blocks its loop. A permit changes hands exactly once: on release it goes
straight to the oldest waiter (``granted``), so a newcomer cannot overtake
the queue. A waiter that stops waiting settles under the lock: if it was
granted in the meantime it hands the permit on, otherwise it leaves the queue.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Final

from brace._clock import Clock
from brace._waiting import Alarm, block_until

__all__ = ["CHUNK", "ENTER", "QUEUE", "REJECT", "Permits", "TaskWaiter", "ThreadWaiter", "admit"]

#: Permits made into deque items at a time.
CHUNK: Final = 64

# Outcomes of the admission decision.
ENTER, QUEUE, REJECT = 0, 1, 2


def admit(in_flight: int, queued: int, max_concurrent: int, max_queue: int) -> int:
    """The pure admission rule: enter, queue (FIFO: only behind nobody) or reject."""
    if in_flight < max_concurrent and not queued:
        return ENTER
    if queued < max_queue:
        return QUEUE
    return REJECT


class ThreadWaiter:
    """A waiting thread: blocks on its own lock, which a grant releases.

    ``now`` reads the timeline its expiry is measured on (the policy's clock).
    """

    __slots__ = ("clock", "granted", "lock", "now", "poll")

    def __init__(self, clock: Clock, poll: bool) -> None:
        self.granted = False
        self.lock = threading.Lock()
        self.lock.acquire()
        self.clock, self.poll, self.now = clock, poll, clock.monotonic

    def wake(self) -> bool:
        self.lock.release()
        return True

    def wait(self, expiry: float) -> bool:
        """Block until granted (True) or ``now()`` reaches ``expiry`` (False)."""
        return block_until(self.lock.acquire, self.clock, expiry, poll=self.poll)


class TaskWaiter:
    """A waiting coroutine: awaits a future that a grant (True) or its expiry (False) completes.

    ``now`` reads the loop's time when the loop keeps the clock's time (the
    expiry is then one loop timer), else the clock (see `brace._waiting`).
    """

    __slots__ = ("alarm", "future", "granted", "loop", "now")

    def __init__(self, clock: Clock, poll: bool) -> None:  # noqa: ARG002 - ThreadWaiter's shape
        self.granted = False
        self.loop = asyncio.get_running_loop()
        self.future: asyncio.Future[bool] = self.loop.create_future()
        self.alarm = Alarm(self.loop, clock)
        self.now = self.alarm.now

    def wake(self) -> bool:
        try:
            self.loop.call_soon_threadsafe(_grant, self.future)
        except RuntimeError:  # the loop is closed: nobody is left to take the permit
            return False
        return True

    def _expire(self) -> None:
        if not self.future.done():  # a grant may be on its way: settle() passes it on
            self.future.set_result(False)

    async def wait(self, expiry: float) -> bool:
        """Wait until granted (True) or ``now()`` reaches ``expiry`` (False)."""
        self.alarm.start(expiry, self._expire)
        try:
            return await self.future
        finally:
            self.alarm.cancel()


def _grant(future: asyncio.Future[bool]) -> None:
    if not future.done():
        future.set_result(True)


Waiter = ThreadWaiter | TaskWaiter


class Permits:
    """``max_concurrent`` permits and the queue for them. Methods named ``*_locked`` need ``lock``.

    ``free`` (the deque) and ``waiters`` are read without the lock on the
    fast paths; every other access holds it.
    """

    __slots__ = (
        "free",
        "lock",
        "max_concurrent",
        "max_in_flight",
        "max_queue",
        "max_queued",
        "rejected",
        "reserve",
        "waiters",
    )

    def __init__(self, max_concurrent: int, max_queue: int) -> None:
        self.max_concurrent = max_concurrent
        self.max_queue = max_queue
        made = min(max_concurrent, CHUNK)
        self.free: deque[None] = deque([None] * made)
        self.reserve = max_concurrent - made
        self.waiters: deque[Waiter] = deque()
        self.lock = threading.Lock()
        self.rejected = 0
        self.max_in_flight = 0
        self.max_queued = 0

    def in_flight(self) -> int:
        """Permits taken now (racy without the lock; exact with it)."""
        return self.max_concurrent - len(self.free) - self.reserve

    def _refill_locked(self) -> bool:
        """Make sure a permit is free (making more from the reserve); False if none can be."""
        if self.free:
            return True
        made = min(self.reserve, CHUNK)
        if not made:
            return False
        self.reserve -= made
        self.free.extend([None] * made)
        return True

    # An interrupt (Ctrl-C) between two bytecodes must not lose a permit: whoever a permit is
    # taken for is marked `granted` *before* the pop, so the code that settles an interrupted
    # waiter (`settle`) finds it and gives the permit back.

    def enqueue(self, waiter: Waiter) -> int:
        """`ENTER` (a permit is taken), `QUEUE` (``waiter`` waits) or `REJECT` (counted)."""
        with self.lock:
            queued = len(self.waiters)
            in_flight = self.in_flight()
            decision = admit(in_flight, queued, self.max_concurrent, self.max_queue)
            if decision == ENTER:
                self._refill_locked()
                waiter.granted = True
                self.free.pop()
                self.max_in_flight = max(self.max_in_flight, in_flight + 1)
                return ENTER
            if decision == REJECT:
                self.rejected += 1
                return REJECT
            self.waiters.append(waiter)
            self.max_queued = max(self.max_queued, queued + 1)
            # A release may have put its permit back just before we queued and seen no
            # waiter; hand out whatever is free now so nobody waits beside a permit.
            woken = self._grant_locked()
        self._wake(woken)
        return QUEUE

    def _grant_locked(self) -> list[Waiter]:
        """Move free permits to the oldest waiters, FIFO; returns the waiters to wake."""
        woken: list[Waiter] = []
        waiters, free = self.waiters, self.free
        while waiters and self._refill_locked():
            waiter = waiters[0]
            waiter.granted = True
            free.pop()
            waiters.popleft()
            woken.append(waiter)
        return woken

    def _wake(self, woken: list[Waiter]) -> None:
        for waiter in woken:
            if not waiter.wake():  # its loop is gone: the permit moves on
                self.release()

    def hand_on(self) -> None:
        """After a permit went back to ``free`` with waiters queued: pass it to the oldest."""
        with self.lock:
            woken = self._grant_locked()
        self._wake(woken)

    def release(self) -> None:
        """Give a permit back; if anyone is queued, it goes to the oldest waiter."""
        self.free.append(None)
        # Read without the lock: a waiter that queues after this read re-checks the free
        # permits under the lock (see enqueue), so no wakeup is lost.
        if self.waiters:
            self.hand_on()

    def settle(self, waiter: Waiter) -> None:
        """``waiter`` stops waiting and gives up its permit, if it got one, or its place."""
        with self.lock:
            if waiter in self.waiters:
                self.waiters.remove(waiter)
            if not waiter.granted:
                return
            waiter.granted = False  # settled once, however often this runs
        self.release()  # granted just as it gave up: pass the permit on

    def counts(self) -> tuple[int, int, int, int, int]:
        """A consistent ``(in_flight, queued, rejected, max_in_flight, max_queued)``."""
        with self.lock:
            return (
                self.in_flight(),
                len(self.waiters),
                self.rejected,
                self.max_in_flight,
                self.max_queued,
            )

    def count_rejection(self) -> tuple[int, int]:
        """Count a waiter that gave up on ``max_wait``; ``(in_flight, queued)`` for the error."""
        with self.lock:
            self.rejected += 1
            return self.in_flight(), len(self.waiters)
