"""Retry budgets: bound retries across all calls, as Finagle, gRPC and Envoy do.

Per-call attempt limits do not stop a retry storm: when a dependency is slow,
every caller retries and the load multiplies. A `RetryBudget` shared by many
calls (and many `Retry` policies) allows retries only as a fraction of
recent first attempts, plus a small floor so that low-traffic clients can
still retry at all.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import timedelta

from brace import _validate
from brace._clock import Clock

__all__ = ["RetryBudget", "SlidingCount"]

# Events closer together than window / _GRAINS share one entry, so memory stays
# bounded (at most _GRAINS entries per window) whatever the request rate.
_GRAINS = 1000
# Guards the "fewer than" comparison against float rounding (0.1 * 3 != 0.3).
_EPSILON = 1e-9


class SlidingCount:
    """How many events happened in the last ``window`` seconds (not thread-safe on its own).

    An event at time ``t`` counts while ``now - t < window``. Events less
    than ``window / 1000`` apart are merged into one entry stamped with the
    first, so ``add`` and ``total`` are amortised O(1) and memory is bounded.
    """

    __slots__ = ("_counts", "_grain", "_times", "_total", "window")

    def __init__(self, window: float) -> None:
        self.window = window
        self._grain = window / _GRAINS
        self._times: deque[float] = deque()
        self._counts: deque[int] = deque()
        self._total = 0

    def _expire(self, now: float) -> None:
        cutoff = now - self.window
        times = self._times
        while times and times[0] <= cutoff:
            times.popleft()
            self._total -= self._counts.popleft()

    def add(self, now: float, count: int = 1) -> None:
        """Record ``count`` events at ``now``."""
        times = self._times
        if times and now - times[-1] < self._grain:
            self._counts[-1] += count
        else:
            # Expiring only when an entry is added keeps memory bounded at little cost.
            self._expire(now)
            times.append(now)
            self._counts.append(count)
        self._total += count

    def total(self, now: float) -> int:
        """Events in the window ending at ``now``."""
        times = self._times
        if times and times[0] <= now - self.window:
            self._expire(now)
        return self._total


class RetryBudget:
    """A budget of retries shared across calls: Finagle's ``RetryBudget``.

    A retry is allowed while the retries taken in the last ``window``
    seconds number fewer than ``ratio * first_attempts + min_per_second *
    window``, counting first attempts over the same window. Pass one
    instance to many `Retry` policies (or a `Hedge`) to bound them together.
    Thread- and task-safe.

    Args:
        ratio: Retries allowed per first attempt, in [0, 1]. Default 0.2.
        min_per_second: Retries per second always allowed, whatever the
            traffic (the floor for quiet clients). Default 10.
        window: Seconds over which attempts and retries are counted. Default 10.0.
        clock: Where time is read. Default: the system clock.

    Raises:
        ConfigError: ``ratio`` outside [0, 1], a negative ``min_per_second``,
            or a ``window`` that is not a positive finite duration.
    """

    __slots__ = ("_clock", "_deposits", "_lock", "_reserve", "_retries", "min_per_second", "ratio")

    def __init__(
        self,
        ratio: float = 0.2,
        min_per_second: float = 10,
        window: float | timedelta = 10.0,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.ratio = _validate.probability("ratio", ratio)
        self.min_per_second = _validate.number("min_per_second", min_per_second, minimum=0.0)
        seconds = _validate.duration("window", window, allow_zero=False)
        self._reserve = min_per_second * seconds
        self._clock: Clock = _validate.clock("clock", clock)
        self._deposits = SlidingCount(seconds)
        self._retries = SlidingCount(seconds)
        self._lock = threading.Lock()

    @property
    def window(self) -> float:
        """Seconds over which first attempts and retries are counted."""
        return self._deposits.window

    def deposit(self) -> None:
        """Record one first attempt (an original request), which earns ``ratio`` retries."""
        now = self._clock.monotonic()
        with self._lock:
            self._deposits.add(now)

    def _allowance_locked(self, now: float) -> float:
        earned = self.ratio * self._deposits.total(now) + self._reserve
        return earned - self._retries.total(now)

    def try_withdraw(self) -> bool:
        """Take one retry if the budget allows it now; atomic. False means: do not retry."""
        now = self._clock.monotonic()
        with self._lock:
            if self._allowance_locked(now) <= _EPSILON:
                return False
            self._retries.add(now)
            return True

    def available(self) -> int:
        """How many retries the budget would allow right now."""
        now = self._clock.monotonic()
        with self._lock:
            left = self._allowance_locked(now)
        whole = int(left)
        # "fewer than" a fractional limit still allows the retry that crosses it.
        return max(0, whole + 1 if left - whole > _EPSILON else whole)

    def __repr__(self) -> str:
        return (
            f"brace.RetryBudget(ratio={self.ratio!r}, min_per_second={self.min_per_second!r}, "
            f"window={self.window!r})"
        )
