"""A retry budget's state: first attempts and retries counted over a sliding window.

`MemoryBudgetCell` is the state of one `brace.RetryBudget` in this process
(Finagle's arithmetic: a retry is allowed while the retries in the window
number fewer than ``ratio * first attempts + min_per_second * window``). A
shared store hands out cells of the same shape that also reconcile with the
fleet (`brace.store._redis_budget.RedisBudgetCell`).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Protocol

from brace._errors import ConfigError

__all__ = ["EPSILON", "BudgetCell", "BudgetStore", "MemoryBudgetCell", "SlidingCount"]

# Events closer together than window / _GRAINS share one entry, so memory stays
# bounded (at most _GRAINS entries per window) whatever the request rate.
_GRAINS = 1000
#: Guards the "fewer than" comparison against float rounding (0.1 * 3 != 0.3).
EPSILON = 1e-9


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


class BudgetCell(Protocol):
    """The state of one retry budget; every method is atomic."""

    def deposit(self, now: float) -> None:
        """Count one first attempt at ``now``."""
        ...

    def try_withdraw(self, now: float) -> bool:
        """Take one retry at ``now`` if the budget allows it; False: do not retry."""
        ...

    def allowance(self, now: float) -> float:
        """Retries the budget allows at ``now`` ("fewer than" this number)."""
        ...


class BudgetStore(Protocol):
    """A store that keeps retry budgets: pass it as ``RetryBudget(store=...)``."""

    def budget_cell(
        self, name: str, ratio: float, min_per_second: float, window: float
    ) -> BudgetCell:
        """The state of the budget called ``name``; budgets named alike share it."""
        ...


class MemoryBudgetCell:
    """A retry budget's counts in this process, behind one lock."""

    __slots__ = ("deposits", "lock", "min_per_second", "ratio", "reserve", "retries")

    def __init__(self, ratio: float, min_per_second: float, window: float) -> None:
        self.ratio = ratio
        self.min_per_second = min_per_second
        self.reserve = min_per_second * window
        self.deposits = SlidingCount(window)
        self.retries = SlidingCount(window)
        self.lock = threading.Lock()

    def check(self, name: str, ratio: float, min_per_second: float, window: float) -> None:
        """Raise `ConfigError` unless a budget asking for this cell has its configuration."""
        held = (self.ratio, self.min_per_second, self.deposits.window)
        if held != (ratio, min_per_second, window):
            raise ConfigError(
                f"RetryBudget {name!r} with ratio={ratio!r}, min_per_second={min_per_second!r}, "
                f"window={window!r} is not allowed: this store already holds it with "
                f"ratio={held[0]!r}, min_per_second={held[1]!r}, window={held[2]!r}; budgets "
                "sharing a name and store must share their configuration"
            )

    def deposit(self, now: float) -> None:
        """Count one first attempt at ``now``."""
        with self.lock:
            self.deposits.add(now)

    def allowance_locked(self, now: float) -> float:
        """``ratio * first attempts + reserve - retries`` in the window (lock held)."""
        return self.ratio * self.deposits.total(now) + self.reserve - self.retries.total(now)

    def took_locked(self, now: float) -> None:
        """Count one retry taken at ``now`` (lock held)."""
        self.retries.add(now)

    def try_withdraw(self, now: float) -> bool:
        """Take one retry if the budget allows it now."""
        with self.lock:
            if self.allowance_locked(now) <= EPSILON:
                return False
            self.took_locked(now)
            return True

    def allowance(self, now: float) -> float:
        """Retries the budget allows at ``now``."""
        with self.lock:
            return self.allowance_locked(now)
