"""Timeout: bound one call to ``seconds`` or the remaining deadline, whichever is sooner.

asyncio: the call runs under `asyncio.timeout`, which is real structured
cancellation: the awaited work sees `asyncio.CancelledError` at its current
``await`` and brace waits for it to unwind. Only brace's own expiry becomes
`TimeoutExceededError`; a cancellation from outside stays `CancelledError`.

Threads: Python cannot interrupt a running thread. The sync driver runs the
call on a worker thread, in a copy of the caller's `contextvars` context (so
the deadline and other context variables follow), and stops *waiting* at the
limit. The abandoned call runs on in the background; its result is dropped
and counted. Each Timeout bounds how many abandoned calls may still be
running (``max_abandoned``) and rejects new calls past it, so a hung
dependency cannot pile up threads without end. Prefer cooperative timeouts
(`brace.deadline`, which integrations turn into socket timeouts) where the
callee supports them.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, Literal, ParamSpec, TypeVar

from brace import _validate
from brace._clock import SYSTEM_CLOCK, Clock, SystemClock
from brace._deadline import _CURRENT, check_deadline
from brace._errors import BulkheadFullError, TimeoutExceededError
from brace._events import BulkheadFull, TimedOut, emit
from brace._policy import Args, Kwargs, Policy
from brace._waiting import Alarm, block_until

__all__ = ["Timeout", "TimeoutMetrics"]

P = ParamSpec("P")
R = TypeVar("R")

Source = Literal["timeout", "deadline"]


@dataclass(frozen=True, slots=True)
class TimeoutMetrics:
    """A snapshot of a `Timeout`.

    Attributes:
        timed_out: Calls that ran out of time so far.
        abandoned: Sync calls left running in the background so far.
        abandoned_running: Abandoned sync calls still running now.
        rejected: Sync calls refused because ``max_abandoned`` were still running.
    """

    timed_out: int
    abandoned: int
    abandoned_running: int
    rejected: int


class Timeout(Policy):
    """Give each call at most ``seconds``, or the remaining deadline if that is sooner.

    When time runs out the call fails with `TimeoutExceededError` (a builtin
    `TimeoutError` too), whose ``.timeout`` is the limit that applied and
    ``.source`` says whether this timeout (``"timeout"``) or an enclosing
    `brace.deadline` (``"deadline"``) was the tighter. Inside a `Retry` it
    bounds each attempt. Async calls are cancelled; sync calls are abandoned
    on a worker thread (see the module documentation).

    Args:
        seconds: The limit, > 0 and finite (float or timedelta). Required.
        name: Used in errors, events and metrics. Default ``"timeout"``.
        max_abandoned: Abandoned sync calls allowed to run on at once
            (>= 1); past it new sync calls raise `BulkheadFullError`. Default 16.
        clock: Where the limit is measured. Default the system clock. Async
            expiry is an event loop timer when the loop keeps the clock's time
            (the system clock, or a `brace.testing.VirtualEventLoop` bound to
            this clock); on any other loop the clock is re-read every 10 ms
            of loop time.
    """

    def __init__(
        self,
        seconds: float | timedelta,
        *,
        name: str | None = None,
        max_abandoned: int = 16,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(None if name is None else _validate.name("name", name))
        self.seconds = _validate.duration("seconds", seconds, allow_zero=False)
        self.max_abandoned = _validate.positive_int("max_abandoned", max_abandoned)
        self._clock: Clock = SYSTEM_CLOCK if clock is None else clock
        self._system = isinstance(self._clock, SystemClock)
        self._lock = threading.Lock()
        self._timed_out = 0
        self._abandoned = 0
        self._abandoned_running = 0
        self._rejected = 0

    def _config(self) -> dict[str, object]:
        return {"seconds": self.seconds, "max_abandoned": self.max_abandoned}

    def metrics(self) -> TimeoutMetrics:
        """A snapshot: timed out, abandoned (total), abandoned still running, rejected."""
        with self._lock:
            return TimeoutMetrics(
                self._timed_out, self._abandoned, self._abandoned_running, self._rejected
            )

    # -- the decision -----------------------------------------------------------------

    def _limit(self) -> tuple[float, Source, float]:
        """(seconds to allow, which bound is tighter, the limit to report)."""
        cur = _CURRENT.get()
        if cur is not None:
            left = cur.left()
            if left < self.seconds:
                return max(left, 0.0), "deadline", cur.seconds
        return self.seconds, "timeout", self.seconds

    def _timed_out_error(self, source: Source, reported: float) -> TimeoutExceededError:
        with self._lock:
            self._timed_out += 1
        if self._listeners.active:
            emit(self._listeners, TimedOut(self.name, reported, source))
        what = "timeout" if source == "timeout" else "deadline"
        return TimeoutExceededError(
            f"call under {self.name!r} ran out of time: {what} of {reported:g} s",
            policy=self.name,
            timeout=reported,
            source=source,
        )

    # -- asyncio ----------------------------------------------------------------------

    async def _arun(self, fn: Callable[..., Awaitable[R]], args: Args, kwargs: Kwargs) -> R:
        limit, source, reported = self._limit()
        alarm: Alarm | None = None
        if not self._system:
            alarm = Alarm(asyncio.get_running_loop(), self._clock)
            if alarm.on_loop:
                alarm = None  # loop time is this clock's: asyncio.timeout's own timer is exact
        try:
            # Under a clock the loop does not keep, the scope has no timer of its own: the
            # alarm expires it, so cancellation stays structured either way.
            async with asyncio.timeout(limit if alarm is None else None) as scope:
                if alarm is not None:
                    alarm.start(alarm.now() + limit, functools.partial(_expire, scope))
                return await fn(*args, **kwargs)
        except TimeoutError:
            if scope.expired():
                raise self._timed_out_error(source, reported) from None
            raise
        finally:
            if alarm is not None:
                alarm.cancel()

    def _awrap(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        if not self._system:
            return super()._awrap(fn)
        name, seconds, timed_out = self.name, self.seconds, self._timed_out_error

        async def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            # Inlined _arun for the system clock: the common case pays one contextvar read.
            cur = _CURRENT.get()
            limit, source, reported = seconds, "timeout", seconds
            if cur is not None:
                check_deadline(name)
                left = cur.left()
                if left < seconds:
                    limit, source, reported = left, "deadline", cur.seconds
            try:
                async with asyncio.timeout(limit) as scope:
                    return await fn(*args, **kwargs)
            except TimeoutError:
                if scope.expired():
                    raise timed_out(source, reported) from None  # type: ignore[arg-type]
                raise

        return wrapped

    # -- threads ----------------------------------------------------------------------

    def _run(self, fn: Callable[..., R], args: Args, kwargs: Kwargs) -> R:
        limit, source, reported = self._limit()
        with self._lock:
            running = self._abandoned_running
            full = running >= self.max_abandoned
            if full:
                self._rejected += 1
        if full:
            raise self._too_many_abandoned(running)
        clock = self._clock
        expiry = clock.monotonic() + limit  # before the call starts, which may move the clock
        job: Job[R] = Job(contextvars.copy_context(), fn, args, kwargs, self._abandoned_finished)
        submit(job)
        try:
            if block_until(job.done.acquire, clock, expiry, poll=not self._system):
                return job.outcome()
        except BaseException:
            self._abandon(job)
            raise
        if not self._abandon(job):
            return job.outcome()  # finished just as the limit passed
        raise self._timed_out_error(source, reported)

    def _abandon(self, job: Job[Any]) -> bool:
        """Leave ``job`` running in the background; False if it had already finished."""
        with job.lock:
            if job.finished:
                return False
            job.abandoned = True
            with self._lock:
                self._abandoned += 1
                self._abandoned_running += 1
        return True

    def _abandoned_finished(self) -> None:
        with self._lock:
            self._abandoned_running -= 1

    def _too_many_abandoned(self, running: int) -> BulkheadFullError:
        if self._listeners.active:
            emit(self._listeners, BulkheadFull(self.name, running, 0))
        return BulkheadFullError(
            f"timeout {self.name!r} refused the call: {running} timed-out calls are still "
            f"running in the background (max_abandoned={self.max_abandoned})",
            policy=self.name,
        )


def _expire(scope: asyncio.Timeout) -> None:
    scope.reschedule(asyncio.get_running_loop().time())


# -- the worker threads behind sync timeouts ---------------------------------------------

#: Idle worker threads kept for reuse, and how long (real seconds) one waits for work.
MAX_IDLE_WORKERS = 32
IDLE_SECONDS = 30.0


class Job(Generic[R]):
    """One sync call handed to a worker thread, and its outcome."""

    __slots__ = (
        "abandoned",
        "args",
        "context",
        "done",
        "error",
        "finished",
        "fn",
        "kwargs",
        "lock",
        "on_abandoned_finish",
        "result",
    )

    def __init__(
        self,
        context: contextvars.Context,
        fn: Callable[..., R],
        args: Args,
        kwargs: Kwargs,
        on_abandoned_finish: Callable[[], None],
    ) -> None:
        self.context = context
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.on_abandoned_finish = on_abandoned_finish
        self.lock = threading.Lock()  # orders "finished" against "abandoned"
        self.done = threading.Lock()  # released when the outcome is ready
        self.done.acquire()
        self.finished = False
        self.abandoned = False
        self.result: R | None = None
        self.error: BaseException | None = None

    def execute(self) -> None:
        try:
            self.result = self.context.run(self.fn, *self.args, **self.kwargs)
        except BaseException as exc:  # handed to the caller's thread as is
            self.error = exc
        with self.lock:
            self.finished = True
            if self.abandoned:
                self.result = self.error = None  # dropped: nobody is waiting
                self.on_abandoned_finish()
                return
        self.done.release()

    def outcome(self) -> R:
        error = self.error
        if error is not None:
            self.error = None  # no reference cycle through the traceback
            raise error
        return self.result  # type: ignore[return-value]


class _Worker:
    """A daemon thread that runs jobs, parking between them (so a hung call never blocks exit)."""

    __slots__ = ("job", "wake")

    def __init__(self, job: Job[Any]) -> None:
        self.job: Job[Any] | None = job
        self.wake = threading.Lock()
        self.wake.acquire()
        threading.Thread(target=self._loop, name="brace-timeout-worker", daemon=True).start()

    def _loop(self) -> None:
        while (job := self.job) is not None:
            self.job = None
            job.execute()
            del job
            self._park()

    def _park(self) -> None:
        with _POOL_LOCK:
            if len(_IDLE) >= MAX_IDLE_WORKERS:
                return
            _IDLE.append(self)
        if self.wake.acquire(timeout=IDLE_SECONDS):
            return
        with _POOL_LOCK:
            if self in _IDLE:  # nobody picked us: retire
                _IDLE.remove(self)
                return
        self.wake.acquire()  # picked just as we timed out: the job is on its way


_POOL_LOCK = threading.Lock()
_IDLE: list[_Worker] = []


def submit(job: Job[Any]) -> None:
    """Run ``job`` on an idle worker thread, or on a new one."""
    with _POOL_LOCK:
        worker = _IDLE.pop() if _IDLE else None
    if worker is None:
        _Worker(job)
    else:
        worker.job = job
        worker.wake.release()
