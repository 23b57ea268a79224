"""Hedge: when a call is slow, start another attempt; the first success wins.

Asyncio only. The decisions that need no event loop live in `_Delays` (how
long to wait before hedging: a fixed delay, or a percentile of recent
latencies over a bounded window) and in `Hedge._may_launch` (is there an
extra attempt left, and does the retry budget allow it). The driver races
attempts as tasks with `asyncio.wait`, which schedules the hedge delay on
the event loop; latencies are measured on the policy's clock.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import re
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, ParamSpec, Protocol, TypeVar

from brace import _validate
from brace._clock import SYSTEM_CLOCK, Clock
from brace._errors import ConfigError
from brace._events import GLOBAL, BudgetExhausted, emit
from brace._policy import Args, Kwargs, Policy

__all__ = ["Hedge", "HedgeBudget"]

P = ParamSpec("P")
R = TypeVar("R")

_PERCENTILE = re.compile(r"p(\d+(?:\.\d+)?)")


class HedgeBudget(Protocol):
    """What `Hedge` needs from a budget such as `brace.RetryBudget`."""

    def deposit(self) -> None:
        """Count one original request."""

    def try_withdraw(self) -> bool:
        """Take one extra-attempt token; False when the budget is spent."""
        ...


def _parse_delay(delay: object) -> tuple[float | None, float | None]:
    """``(fixed seconds, None)`` or ``(None, quantile in (0, 1))``."""
    if isinstance(delay, str):
        match = _PERCENTILE.fullmatch(delay)
        percent = float(match.group(1)) if match else math.nan
        if not 0 < percent < 100:
            raise ConfigError(
                f"delay={delay!r} is not allowed; expected seconds >= 0 or a latency "
                "percentile such as 'p95' or 'p99' (strictly between p0 and p100)"
            )
        return None, percent / 100
    return _validate.duration("delay", delay), None


class _Delays:
    """How long to wait before the next attempt: fixed, or a percentile of recent latencies.

    The recent latencies are kept twice, in arrival order (to evict the
    oldest) and sorted (to read the percentile in O(1)); ``record`` costs
    O(log window) comparisons and one O(window) memmove. Safe to share between
    threads and event loops.
    """

    __slots__ = ("_cached", "_lock", "_recent", "_sorted", "fixed", "initial", "min_samples", "q")

    def __init__(
        self, fixed: float | None, q: float | None, window: int, min_samples: int, initial: float
    ) -> None:
        self.fixed = fixed
        self.q = q
        self.min_samples = min_samples
        self.initial = initial
        self._recent: deque[float] = deque(maxlen=window)
        self._sorted: list[float] = []
        self._cached = initial
        self._lock = threading.Lock()

    def current(self) -> float:
        return self._cached if self.fixed is None else self.fixed

    def record(self, seconds: float) -> None:
        if self.q is None:
            return
        sample = max(seconds, 0.0)
        with self._lock:
            recent, ordered = self._recent, self._sorted
            if len(recent) == recent.maxlen:
                del ordered[bisect.bisect_left(ordered, recent[0])]
            recent.append(sample)
            bisect.insort(ordered, sample)
            count = len(ordered)
            if count >= self.min_samples:
                # Nearest-rank percentile: the smallest sample with at least q of them at or below.
                self._cached = ordered[max(math.ceil(self.q * count) - 1, 0)]


class Hedge(Policy):
    """If a call has not finished after ``delay``, start another attempt; the first success wins.

    Attempts run as asyncio tasks with the same arguments. The first to
    succeed answers; the others are cancelled and awaited before the call
    returns, so nothing is left running. An attempt that fails before
    ``delay`` starts the next one at once. When every attempt has failed,
    the last failure is raised with a note. When the caller is cancelled,
    every attempt is cancelled and awaited.

    Hedging only suits idempotent calls: two attempts may both reach the
    dependency. It needs asyncio; decorating a synchronous function raises
    `TypeError`.

    Args:
        delay: Seconds (or ``timedelta``) to wait before hedging, >= 0; or
            ``"p95"``, ``"p99"``, ``"p99.9"``...: that percentile of the
            latencies of recent attempts (successes, and attempts cancelled
            because another won, counted at the time they were cancelled).
        max_extra: Extra attempts at most, >= 1. Default 1.
        budget: Where extra attempts draw tokens (``deposit()`` per call,
            ``try_withdraw()`` per extra attempt), e.g. a `brace.RetryBudget`;
            when it refuses, the call waits for the attempts already running.
            Default ``None`` (no budget).
        min_samples: With a percentile delay, latencies needed before the
            percentile is used. Default 20.
        initial_delay: With a percentile delay, the delay used until then.
            Default 1.0.
        window: With a percentile delay, how many recent latencies it is
            computed over. Default 1000.
        clock: Where latencies are measured. Default: the system clock.
        name: Used in events and notes. Default ``"hedge"``.
    """

    def __init__(
        self,
        delay: float | timedelta | str,
        *,
        max_extra: int = 1,
        budget: HedgeBudget | None = None,
        min_samples: int = 20,
        initial_delay: float | timedelta = 1.0,
        window: int = 1000,
        clock: Clock | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(None if name is None else _validate.name("name", name))
        fixed, q = _parse_delay(delay)
        samples = _validate.positive_int("min_samples", min_samples)
        size = _validate.positive_int("window", window, minimum=samples)
        initial = _validate.duration("initial_delay", initial_delay)
        self._delays = _Delays(fixed, q, size, samples, initial)
        self._delay_spec = delay
        self._max_extra = _validate.positive_int("max_extra", max_extra)
        if budget is not None and not (
            callable(getattr(budget, "deposit", None))
            and callable(getattr(budget, "try_withdraw", None))
        ):
            raise ConfigError(
                f"budget={budget!r} is not allowed; expected an object with deposit() and "
                "try_withdraw() such as brace.RetryBudget, or None"
            )
        self._budget = budget
        self._clock: Clock = SYSTEM_CLOCK if clock is None else clock

    @property
    def delay(self) -> float:
        """The delay the next call would wait before hedging, in seconds."""
        return self._delays.current()

    # -- decisions -----------------------------------------------------------------------

    def _may_launch(self, extras_left: int, attempts: int) -> bool:
        """Whether an extra attempt may start now; a refused budget ends hedging for the call."""
        if extras_left <= 0:
            return False
        if self._budget is None or self._budget.try_withdraw():
            return True
        if self._listeners.subs or GLOBAL.subs:
            emit(self._listeners, BudgetExhausted(self.name, attempts))
        return False

    # -- the asyncio driver --------------------------------------------------------------

    def _wrap(self, fn: Callable[P, R]) -> Callable[P, R]:
        raise TypeError(self._needs_asyncio(fn))

    def _run(self, fn: Callable[..., R], args: Args, kwargs: Kwargs) -> R:  # noqa: ARG002
        raise TypeError(self._needs_asyncio(fn))

    def _needs_asyncio(self, fn: object) -> str:
        return (
            f"{self!r} cannot hedge the synchronous function {fn!r}: hedging runs attempts "
            "concurrently as asyncio tasks and cancels the losers, which a thread cannot do "
            "safely. Hedge an async def function (or use Timeout and Retry for sync code)."
        )

    async def _arun(self, fn: Callable[..., Awaitable[R]], args: Args, kwargs: Kwargs) -> R:
        if self._budget is not None:
            self._budget.deposit()
        clock = self._clock
        delay = self._delays.current()
        running: dict[asyncio.Future[R], float] = {}
        extras, attempts = self._max_extra, 1
        running[asyncio.ensure_future(fn(*args, **kwargs))] = clock.monotonic()
        last: Exception | None = None
        try:
            while running:
                done, _ = await asyncio.wait(
                    running, timeout=delay if extras else None, return_when=asyncio.FIRST_COMPLETED
                )
                now = clock.monotonic()
                for task in done:
                    started = running.pop(task)
                    failure = task.exception()
                    if failure is None:
                        self._record(now - started, running, now)
                        return task.result()
                    if not isinstance(failure, Exception):
                        raise failure
                    last = failure
                # Nothing finished in time, or everything that finished failed: hedge now.
                if self._may_launch(extras, attempts):
                    extras, attempts = extras - 1, attempts + 1
                    running[asyncio.ensure_future(fn(*args, **kwargs))] = clock.monotonic()
                else:
                    extras = 0
        finally:
            if running:
                await _cancel_and_wait(running)
        assert last is not None  # noqa: S101 - the loop ends only after a failure
        last.add_note(f"hedge {self.name!r}: all {attempts} attempts failed; this is the last")
        raise last

    def _record(self, latency: float, losers: dict[asyncio.Future[R], float], now: float) -> None:
        self._delays.record(latency)
        for started in losers.values():
            # A loser's true latency is unknown but at least this; dropping it would bias
            # the percentile towards the fast attempts that win.
            self._delays.record(now - started)

    def _config(self) -> dict[str, object]:
        return {"delay": self._delay_spec, "max_extra": self._max_extra}


async def _cancel_and_wait(tasks: dict[asyncio.Future[Any], float]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not log "never retrieved"
