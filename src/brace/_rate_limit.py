"""Rate limiter: at most ``rate`` calls per ``per`` seconds, bursts up to ``burst``.

The decision is GCRA (`brace.store.gcra`), a token bucket kept as one
timestamp, applied atomically by a `brace.store.RateStore` (in memory by
default), so limiters named alike can later share one limit across
processes. A call over the limit either waits for its reserved slot (at
most ``max_wait``, never past the deadline) or fails at once with
`RateLimitedError` carrying ``retry_after``. Waits go through the policy's
clock and honour `brace.testing.no_wait`.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, ParamSpec, TypeVar, cast

from brace import _validate
from brace._calls import calls_user_code, refuse_awaitable, shell
from brace._clock import Clock, await_wait, wait  # noqa: F401 - wait: _wrap's sleep
from brace._deadline import _CURRENT, check_deadline
from brace._errors import ConfigError, RateLimitedError
from brace._events import CallRejected, emit
from brace._policy import Policy
from brace._unasync import IS_ASYNC, sync_twin
from brace.store._rate import MemoryRateStore, RateStore, SharedRateStore

__all__ = ["RateLimiter", "RateLimiterMetrics"]

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class RateLimiterMetrics:
    """A snapshot of a `RateLimiter`'s counters (this process only).

    Attributes:
        rejected: Calls refused with `RateLimitedError` so far.
        delayed: Calls that waited for their slot before running.
        waited: Total seconds those calls were told to wait.
    """

    rejected: int
    delayed: int
    waited: float


class RateLimiter(Policy):
    """Allow ``rate`` calls per ``per`` seconds, with bursts of up to ``burst``.

    Over the limit, a call waits for its slot when that takes at most
    ``max_wait`` and ends before the current `brace.deadline`; otherwise it
    fails at once with `RateLimitedError`, whose ``retry_after`` says how
    long until a call would be allowed. Waiting calls are served in the
    order they arrived (each reserves its slot before it sleeps).

    Args:
        name: Used in errors, events, metrics and as the store key. Default
            ``"ratelimiter"``.
        rate: Calls allowed per ``per`` seconds (a finite number > 0). Required.
        per: The period, in seconds (> 0). Default 1.0.
        burst: Calls allowed back to back after a quiet spell (>= 1).
            Default ``None``: ``rate`` (and at least 1).
        max_wait: Longest a call may wait for its slot, seconds (>= 0).
            Default 0.0: never wait.
        clock: Where time is read and waits sleep. Default the system clock.
        store: Where the state lives: a `brace.store.RateStore` such as
            `brace.store.RedisStore` (limiters named alike share one limit
            across processes). Default a private `MemoryRateStore`.
    """

    _guards_deadline: ClassVar[bool] = True

    def __init__(
        self,
        name: str | None = None,
        *,
        rate: float,
        per: float | timedelta = 1.0,
        burst: float | None = None,
        max_wait: float | timedelta = 0.0,
        clock: Clock | None = None,
        store: RateStore | None = None,
    ) -> None:
        super().__init__(None if name is None else _validate.name("name", name))
        self.rate = _validate.positive_number("rate", rate)
        self.per = _validate.duration("per", per, allow_zero=False)
        self.burst = (
            max(self.rate, 1.0)
            if burst is None
            else _validate.positive_number("burst", burst, minimum=1.0)
        )
        self.max_wait = _validate.duration("max_wait", max_wait)
        if store is not None and not isinstance(store, RateStore):
            raise ConfigError(
                f"store={store!r} is not allowed; expected a brace.store.RateStore "
                "(reserve and reset methods)"
            )
        self._clock: Clock = _validate.clock("clock", clock)
        self._store: RateStore = MemoryRateStore() if store is None else store
        self._shared = callable(getattr(self._store, "areserve", None))
        self._interval = self.per / self.rate
        self._lock = threading.Lock()
        self._rejected = 0
        self._delayed = 0
        self._waited = 0.0

    def _config(self) -> dict[str, object]:
        return {"rate": self.rate, "per": self.per, "burst": self.burst, "max_wait": self.max_wait}

    def metrics(self) -> RateLimiterMetrics:
        """A snapshot: rejected, delayed, and seconds waited in total."""
        with self._lock:
            return RateLimiterMetrics(self._rejected, self._delayed, self._waited)

    def reset(self) -> None:
        """Forget the state in the store: the next call sees a full bucket."""
        self._store.reset(self.name)

    # -- the decision -----------------------------------------------------------------

    def _count(self, delay: float, budget: float) -> None:
        if delay <= budget:
            with self._lock:
                self._delayed += 1
                self._waited += delay
            return
        with self._lock:
            self._rejected += 1
        self._listeners.rejected()  # telemetry: count, now and then summarise in the log
        if self._listeners.active:
            emit(self._listeners, CallRejected(self.name, "rate limited", delay))
        raise RateLimitedError(
            f"rate limiter {self.name!r} allows {self.rate:g} calls per {self.per:g} s; "
            f"next call allowed in {delay:.3g} s",
            policy=self.name,
            retry_after=delay,
        )

    # -- the shells (written async; the sync ones are derived) --------------------------

    # A store shared by processes answers over the network: the asyncio shell awaits its
    # `areserve` (one round trip that must not block the loop); the in-memory store's
    # `reserve` is a few bytecodes, called directly from both shells.

    def _ataker(self) -> Callable[[], Coroutine[Any, Any, float]]:
        """``take()``: reserve a slot, the seconds to wait first, or raise `RateLimitedError`."""
        name, monotonic = self.name, self._clock.monotonic
        areserve = cast("SharedRateStore", self._store).areserve
        interval, burst, max_wait, count = self._interval, self.burst, self.max_wait, self._count

        async def take() -> float:
            budget = max_wait
            cur = _CURRENT.get()
            if cur is not None:
                check_deadline(name)
                budget = min(budget, max(cur.left(), 0.0))
            delay = await areserve(name, monotonic(), interval, burst, budget)
            if delay:
                count(delay, budget)
            return delay

        return take

    _taker = sync_twin(_ataker, "_taker", areserve="reserve")

    def _awrap(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        clock, shared = self._clock, self._shared
        take = self._taker()
        atake = self._ataker() if shared else take
        direct = not IS_ASYNC and calls_user_code(fn)

        async def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            if shared:
                delay = await atake()
            else:
                delay = take()
            if delay:
                await await_wait(clock, delay)
            result = await fn(*args, **kwargs)
            if direct and hasattr(result, "__await__"):
                refuse_awaitable(fn, result)
            return result

        return shell(wrapped)

    _wrap = sync_twin(_awrap, "_wrap", await_wait="wait", atake="take", _ataker="_taker")
