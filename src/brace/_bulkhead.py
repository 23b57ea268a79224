"""Bulkhead: at most ``max_concurrent`` calls inside, a bounded FIFO queue for the rest.

One `Bulkhead` counts calls from threads and from coroutines together. Its
state is a counter and a FIFO of waiters behind one `threading.Lock` that is
only ever held for a few bytecodes, so a coroutine taking it never blocks its
event loop. A waiting thread blocks on its own pre-acquired lock (no
spinning); a waiting coroutine awaits a future that the releasing side
completes with ``loop.call_soon_threadsafe``.

A permit changes hands exactly once: on release it goes straight to the
oldest waiter (``granted``), never back through the counter, so a newcomer
cannot overtake the queue. A waiter that stops waiting (its ``max_wait`` or
deadline passed, or it was cancelled) settles under the lock: if it was
granted in the meantime it hands the permit on, otherwise it leaves the queue.

Waits are measured on the policy's clock (see `brace._waiting`). A waiting
coroutine's ``max_wait`` or deadline is one loop timer when its loop keeps
the clock's time (the system clock, or a `brace.testing.VirtualEventLoop`
bound to the clock), so a simulation expires it at the exact virtual instant.
Only where nothing announces the clock's moves (a thread under a
`brace.testing.VirtualClock`, or a task on a real loop under one) does a
waiter re-read the clock every `brace._waiting.POLL_INTERVAL`.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ParamSpec, Self, TypeVar

from brace import _validate
from brace._clock import SYSTEM_CLOCK, Clock, SystemClock
from brace._deadline import _CURRENT, check_deadline
from brace._deadline import current as current_deadline
from brace._errors import BulkheadFullError, ConfigError, TimeoutExceededError
from brace._events import BulkheadFull, Queued, TimedOut, emit
from brace._policy import Args, Kwargs, Policy
from brace._waiting import Alarm, block_until

__all__ = ["Bulkhead", "BulkheadMetrics"]

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class BulkheadMetrics:
    """A snapshot of a bulkhead.

    Attributes:
        in_flight: Calls running inside now.
        queued: Calls waiting for a slot now.
        rejected: Calls refused with `BulkheadFullError` so far (full queue or
            ``max_wait`` passed).
        max_in_flight: Most calls ever inside at once (sampled without a lock on
            the fast path, so concurrent entries may under-report it by a little).
        max_queued: Most calls ever waiting at once.
    """

    in_flight: int
    queued: int
    rejected: int
    max_in_flight: int
    max_queued: int


class _ThreadWaiter:
    """A waiting thread: blocks on its own lock, which a grant releases."""

    __slots__ = ("granted", "lock")

    def __init__(self) -> None:
        self.granted = False
        self.lock = threading.Lock()
        self.lock.acquire()

    def wake(self) -> bool:
        self.lock.release()
        return True


class _TaskWaiter:
    """A waiting coroutine: awaits a future that a grant (True) or its expiry (False) completes."""

    __slots__ = ("future", "granted", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.granted = False
        self.loop = loop
        self.future: asyncio.Future[bool] = loop.create_future()

    def wake(self) -> bool:
        try:
            self.loop.call_soon_threadsafe(_grant, self.future)
        except RuntimeError:  # the loop is closed: nobody is left to take the permit
            return False
        return True

    def expire(self) -> None:
        if not self.future.done():  # a grant may be on its way: _settle passes it on
            self.future.set_result(False)


def _grant(future: asyncio.Future[bool]) -> None:
    if not future.done():
        future.set_result(True)


_Waiter = _ThreadWaiter | _TaskWaiter

# Outcomes of the admission decision.
_ENTER, _QUEUE, _REJECT = 0, 1, 2


def admit(in_flight: int, queued: int, max_concurrent: int, max_queue: int) -> int:
    """The pure admission rule: enter, queue (FIFO: only behind nobody) or reject."""
    if in_flight < max_concurrent and not queued:
        return _ENTER
    if queued < max_queue:
        return _QUEUE
    return _REJECT


class Bulkhead(Policy):
    """Let at most ``max_concurrent`` calls run at once; queue or reject the rest.

    Shared safely by threads and asyncio tasks (of any number of loops): they
    count against the same slots. A call that finds every slot busy waits in
    a FIFO queue if fewer than ``max_queue`` are already waiting, for at most
    ``max_wait`` seconds and never past the current `brace.deadline`;
    otherwise it fails at once with `BulkheadFullError`. A waiter whose
    deadline passes gets `TimeoutExceededError`. The slot is given back
    exactly once however the call ends, cancellation included.

    Args:
        name: Used in errors, events and metrics. Default ``"bulkhead"``.
        max_concurrent: Calls allowed inside at once (>= 1). Required.
        max_queue: Calls allowed to wait for a slot (>= 0). Default 0: reject at once.
        max_wait: Longest wait for a slot, in seconds (> 0 when ``max_queue``
            > 0, else 0). Default 0.0.
        clock: Where waits are measured. Default the system clock.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        max_concurrent: int,
        max_queue: int = 0,
        max_wait: float | timedelta = 0.0,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(None if name is None else _validate.name("name", name))
        self.max_concurrent = _validate.positive_int("max_concurrent", max_concurrent)
        self.max_queue = _validate.positive_int("max_queue", max_queue, minimum=0)
        self.max_wait = _validate.duration("max_wait", max_wait)
        if self.max_queue and not self.max_wait:
            raise ConfigError(
                f"max_wait={max_wait!r} is not allowed with max_queue={max_queue!r}; "
                "expected max_wait > 0 seconds so queued calls can wait (or max_queue=0)"
            )
        if self.max_wait and not self.max_queue:
            raise ConfigError(
                f"max_wait={max_wait!r} has no effect with max_queue=0; "
                "expected max_queue >= 1 to let calls wait (or max_wait=0)"
            )
        self._clock: Clock = SYSTEM_CLOCK if clock is None else clock
        self._poll = not isinstance(self._clock, SystemClock)
        self._lock = threading.Lock()
        # One item per free permit: pop() to enter and append() to leave are atomic.
        self._permits: deque[None] = deque([None] * self.max_concurrent)
        self._waiters: deque[_Waiter] = deque()
        self._rejected = 0
        self._max_in_flight = 0
        self._max_queued = 0

    def _config(self) -> dict[str, object]:
        return {
            "max_concurrent": self.max_concurrent,
            "max_queue": self.max_queue,
            "max_wait": self.max_wait,
        }

    def metrics(self) -> BulkheadMetrics:
        """A consistent snapshot: in flight, queued, rejected and the maxima observed."""
        with self._lock:
            return BulkheadMetrics(
                self.max_concurrent - len(self._permits),
                len(self._waiters),
                self._rejected,
                self._max_in_flight,
                self._max_queued,
            )

    # -- the shared state (methods named *_locked run under self._lock) ---------------

    def _try_enter(self) -> bool:
        """Fast path, lock-free: take a free permit if nobody is queued."""
        if not self._waiters:
            permits = self._permits
            try:
                permits.pop()  # atomic under the GIL: two callers never get one permit
            except IndexError:
                return False
            in_flight = self.max_concurrent - len(permits)
            # A benign race (a maximum sampled without the lock); max() would cost a call.
            if in_flight > self._max_in_flight:  # noqa: PLR1730
                self._max_in_flight = in_flight
            return True
        return False

    def _enqueue(self, waiter: _Waiter) -> bool:
        """Enter (True), queue ``waiter`` (False) or raise `BulkheadFullError`."""
        with self._lock:
            queued = len(self._waiters)
            in_flight = self.max_concurrent - len(self._permits)
            decision = admit(in_flight, queued, self.max_concurrent, self.max_queue)
            if decision == _ENTER:
                self._permits.pop()
                self._max_in_flight = max(self._max_in_flight, in_flight + 1)
                return True
            if decision == _QUEUE:
                self._waiters.append(waiter)
                self._max_queued = max(self._max_queued, queued + 1)
                # A release may have put its permit back just before we queued and seen
                # no waiter; hand out whatever is free now so nobody waits beside a permit.
                woken = self._grant_locked()
            else:
                self._rejected += 1
        if decision == _REJECT:
            raise self._full(in_flight, queued)
        self._wake(woken)
        if self._listeners.active:
            emit(self._listeners, Queued(self.name, queued + 1))
        return False

    def _full(self, in_flight: int, queued: int) -> BulkheadFullError:
        if self._listeners.active:
            emit(self._listeners, BulkheadFull(self.name, in_flight, queued))
        return BulkheadFullError(
            f"bulkhead {self.name!r} is full: {in_flight} of {self.max_concurrent} calls "
            f"running and {queued} of {self.max_queue} queued",
            policy=self.name,
        )

    def _grant_locked(self) -> list[_Waiter]:
        """Move free permits to the oldest waiters, FIFO; returns the waiters to wake."""
        woken: list[_Waiter] = []
        waiters, permits = self._waiters, self._permits
        while waiters and permits:
            permits.pop()
            waiter = waiters.popleft()
            waiter.granted = True
            woken.append(waiter)
        return woken

    def _wake(self, woken: list[_Waiter]) -> None:
        for waiter in woken:
            if not waiter.wake():  # its loop is gone: the permit moves on
                self._release()

    def _release(self) -> None:
        """Give a permit back; if anyone is queued, it goes to the oldest waiter."""
        self._permits.append(None)
        # Read without the lock: a waiter that queues after this read re-checks the
        # permits under the lock (see _enqueue), so no wakeup is lost.
        if self._waiters:
            with self._lock:
                woken = self._grant_locked()
            self._wake(woken)

    def _settle(self, waiter: _Waiter) -> None:
        """A waiter stopped waiting without using a permit: undo whatever happened."""
        with self._lock:
            if not waiter.granted:
                self._waiters.remove(waiter)
                return
        self._release()  # granted just as it gave up: pass the permit on

    # -- waiting ----------------------------------------------------------------------

    def _wait_budget(self) -> tuple[float, bool]:
        """(seconds this call may wait on the clock, whether the deadline is what limits it)."""
        cur = current_deadline()
        if cur is not None and cur[0] < self.max_wait:
            return max(cur[0], 0.0), True
        return self.max_wait, False

    def _expired(self, by_deadline: bool) -> BaseException:
        if by_deadline:
            cur = current_deadline()
            seconds = cur[1] if cur is not None else self.max_wait
            if self._listeners.active:
                emit(self._listeners, TimedOut(self.name, seconds, "deadline"))
            return TimeoutExceededError(
                f"deadline of {seconds:g} s passed while waiting for bulkhead {self.name!r}",
                policy=self.name,
                timeout=seconds,
                source="deadline",
            )
        with self._lock:
            self._rejected += 1
            in_flight = self.max_concurrent - len(self._permits)
            queued = len(self._waiters)
        return self._full(in_flight, queued)

    def _queue(self, waiter: _Waiter, now: Callable[[], float]) -> _Stay:
        """Enter or queue ``waiter``; the stay's expiry is on the timeline ``now`` reads."""
        budget, by_deadline = self._wait_budget()
        # The wait starts before queueing: a releaser may move the clock at once.
        expiry = now() + budget
        return _Stay(self, waiter, by_deadline, expiry, self._enqueue(waiter))

    def _wait_thread(self) -> None:
        waiter = _ThreadWaiter()
        with self._queue(waiter, self._clock.monotonic) as stay:
            if not stay.granted:
                clock, expiry = self._clock, stay.expiry
                stay.granted = block_until(waiter.lock.acquire, clock, expiry, poll=self._poll)

    async def _wait_task(self) -> None:
        loop = asyncio.get_running_loop()
        waiter, alarm = _TaskWaiter(loop), Alarm(loop, self._clock)
        with self._queue(waiter, alarm.now) as stay:
            if not stay.granted:
                alarm.start(stay.expiry, waiter.expire)
                try:
                    stay.granted = await waiter.future
                finally:
                    alarm.cancel()

    # -- drivers ----------------------------------------------------------------------

    def _run(self, fn: Callable[..., R], args: Args, kwargs: Kwargs) -> R:
        if not self._try_enter():
            self._wait_thread()
        try:
            return fn(*args, **kwargs)
        finally:
            self._release()

    async def _arun(self, fn: Callable[..., Awaitable[R]], args: Args, kwargs: Kwargs) -> R:
        if not self._try_enter():
            await self._wait_task()
        try:
            return await fn(*args, **kwargs)
        finally:
            self._release()

    def _wrap(self, fn: Callable[P, R]) -> Callable[P, R]:
        # Bound methods looked up once: the hot path is one lock round trip in, one out.
        name, enter, wait, release = self.name, self._try_enter, self._wait_thread, self._release

        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            if _CURRENT.get() is not None:
                check_deadline(name)
            if not enter():
                wait()
            try:
                return fn(*args, **kwargs)
            finally:
                release()

        return wrapped

    def _awrap(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        name, enter, wait, release = self.name, self._try_enter, self._wait_task, self._release

        async def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            if _CURRENT.get() is not None:
                check_deadline(name)
            if not enter():
                await wait()
            try:
                return await fn(*args, **kwargs)
            finally:
                release()

        return wrapped


@dataclass(slots=True)
class _Stay:
    """One caller's wait in the queue, settled however it ends.

    ``granted`` is set by the driver's blocking or awaiting line. Leaving the
    block without a permit takes the waiter out of the queue (or passes on a
    permit granted as it gave up); without an exception in flight it then
    raises `BulkheadFullError` (``max_wait`` passed) or
    `TimeoutExceededError` (the deadline passed).
    """

    bulkhead: Bulkhead
    waiter: _Waiter
    by_deadline: bool
    expiry: float
    granted: bool

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if self.granted:
            return
        self.bulkhead._settle(self.waiter)
        if exc_type is None:
            raise self.bulkhead._expired(self.by_deadline)
