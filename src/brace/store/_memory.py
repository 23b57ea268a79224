"""The in-memory store: state lives in this process, guarded by a `threading.Lock`."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

from brace._breaker_state import CLOSED, Phase, Trial
from brace._bulkhead_queue import Permits
from brace._errors import ConfigError
from brace._window import CountWindow, TimeWindow, Window
from brace.store._budget import MemoryBudgetCell
from brace.store._rate import MemoryRateStore

__all__ = ["MemoryBreakerCell", "MemoryStore", "same_limits", "same_window"]

T = TypeVar("T")


def same_window(name: str, held: CountWindow | TimeWindow, given: CountWindow | TimeWindow) -> None:
    """Raise `ConfigError` unless breaker ``name``'s cell (``held``) has the window ``given``."""
    if held != given:
        raise ConfigError(
            f"window={given!r} is not allowed for breaker {name!r}: this store "
            f"already holds it with window={held!r}; breakers sharing a "
            "name and store must share the window"
        )


def same_limits(name: str, held: tuple[int, int], given: tuple[int, int]) -> None:
    """Raise `ConfigError` unless bulkhead ``name``'s state has ``(max_concurrent, max_queue)``."""
    if held != given:
        raise ConfigError(
            f"Bulkhead {name!r} with max_concurrent={given[0]!r}, max_queue={given[1]!r} is not "
            f"allowed: this store already holds it with max_concurrent={held[0]!r}, "
            f"max_queue={held[1]!r}; bulkheads sharing a name and store must share them"
        )


class MemoryBreakerCell:
    """A `BreakerCell` held in plain attributes.

    Rejections are counted with an `itertools.count`, whose ``next`` is
    atomic in CPython, so an open breaker rejects without taking the lock;
    reading the count advances it too, and reads are subtracted.
    """

    __slots__ = (
        "_reads",
        "_rejections",
        "consecutive",
        "count_rejection",
        "lock",
        "phase",
        "spec",
        "trips",
        "window",
    )

    def __init__(self, spec: CountWindow | TimeWindow, now: float) -> None:
        self.lock = threading.Lock()
        self.spec = spec
        self.window: Window = spec.create()
        self.phase = Phase(CLOSED, now)
        self.trips = 0
        self.consecutive = 0
        self._rejections = itertools.count()
        self.count_rejection = self._rejections.__next__
        self._reads = 0

    @property
    def rejected(self) -> int:
        """Calls rejected since the cell was made or rejections were last reset."""
        value = next(self._rejections) - self._reads
        self._reads += 1
        return value

    def reset_rejections(self) -> None:
        """Start counting rejections from zero again."""
        self._reads = next(self._rejections) + 1

    def attach(self, machine: object) -> None:
        """Nothing to follow: the state lives here."""

    def moved(self, new: Phase, reason: str, manual: bool) -> None:
        """Nothing to publish."""

    def lease(self, trial: Trial) -> bool:  # noqa: ARG002 - BreakerCell protocol
        """Always: the local slot is the only one."""
        return True


class MemoryStore:
    """Keeps policy state in this process; policies given the same store and name share it.

    A `brace.CircuitBreaker`, `brace.RetryBudget`, `brace.RateLimiter` or
    `brace.Bulkhead` without ``store=`` keeps its state to itself, so two
    policies that happen to share a name never share state by accident.
    Pass one `MemoryStore` to several to share on purpose (within this
    process; `brace.store.RedisStore` shares across processes).
    """

    __slots__ = ("_lock", "_parts", "_rate")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: dict[tuple[str, str], Any] = {}
        self._rate = MemoryRateStore()

    def _part(self, kind: str, name: str, make: Callable[[], T]) -> T:
        """The state ``(kind, name)`` of this store, made by ``make()`` on first use."""
        with self._lock:
            part = self._parts.get((kind, name))
            if part is None:
                part = self._parts[kind, name] = make()
            return cast("T", part)

    def breaker_cell(
        self, name: str, window: CountWindow | TimeWindow, now: float
    ) -> MemoryBreakerCell:
        """The cell for breaker ``name``, created CLOSED at ``now`` on first use.

        Raises:
            ConfigError: a breaker of this name already uses a different window.
        """
        cell = self._part("breaker", name, lambda: MemoryBreakerCell(window, now))
        same_window(name, cell.spec, window)
        return cell

    def budget_cell(
        self, name: str, ratio: float, min_per_second: float, window: float
    ) -> MemoryBudgetCell:
        """The counts of retry budget ``name``.

        Raises:
            ConfigError: a budget of this name has another configuration.
        """
        cell = self._part("budget", name, lambda: MemoryBudgetCell(ratio, min_per_second, window))
        cell.check(name, ratio, min_per_second, window)
        return cell

    def bulkhead_permits(self, name: str, max_concurrent: int, max_queue: int) -> Permits:
        """The permits and queue of bulkhead ``name``.

        Raises:
            ConfigError: a bulkhead of this name has other limits.
        """
        permits = self._part("bulkhead", name, lambda: Permits(max_concurrent, max_queue))
        same_limits(name, (permits.max_concurrent, permits.max_queue), (max_concurrent, max_queue))
        return permits

    def reserve(
        self, key: str, now: float, interval: float, burst: float, max_wait: float
    ) -> float:
        """Apply GCRA to rate limit ``key``; see `brace.store.RateStore`."""
        return self._rate.reserve(key, now, interval, burst, max_wait)

    def reset(self, key: str) -> None:
        """Forget rate limit ``key``'s state."""
        self._rate.reset(key)

    def sync(self) -> None:
        """Nothing to reconcile: the state lives here (shared stores flush on ``sync``)."""

    def __repr__(self) -> str:
        return f"brace.store.MemoryStore({len(self._parts)} policies)"
