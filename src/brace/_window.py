"""Sliding windows over recent call outcomes: the last N calls, or the last N seconds.

`CountWindow` and `TimeWindow` are frozen descriptions a breaker is configured
with; ``create()`` builds the mutable window (a ring) that records outcomes.
Both rings keep running sums and subtract what they evict, so recording an
outcome and taking a `WindowSnapshot` are O(1) (a time window touches at most
``buckets`` buckets when time jumps forward, a constant).

An outcome is a small int: ``0`` for a success, with the `FAILED` and `SLOW`
bits set for a failure and for a slow call (both may be set).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from brace import _validate
from brace._errors import ConfigError

__all__ = [
    "FAILED",
    "SLOW",
    "CountRing",
    "CountWindow",
    "Tally",
    "TimeRing",
    "TimeWindow",
    "Window",
    "WindowSnapshot",
]

#: The largest `CountWindow`: its ring holds one int per call (use a TimeWindow beyond).
MAX_COUNT_WINDOW = 1_000_000

#: Outcome bit: the call failed.
FAILED = 1
#: Outcome bit: the call took longer than the breaker's ``slow_call_duration``.
SLOW = 2


@dataclass(frozen=True, slots=True)
class WindowSnapshot:
    """Counts over a window at one instant.

    Args:
        calls: Recorded calls in the window.
        failures: Of those, the failures.
        slow: Of those, the slow calls (failed or not).
    """

    calls: int
    failures: int
    slow: int

    @property
    def failure_rate(self) -> float:
        """``failures / calls``; 0.0 for an empty window."""
        return self.failures / self.calls if self.calls else 0.0

    @property
    def slow_rate(self) -> float:
        """``slow / calls``; 0.0 for an empty window."""
        return self.slow / self.calls if self.calls else 0.0


class Window(Protocol):
    """A mutable window of outcomes; ``calls``, ``failures`` and ``slow`` are its running sums.

    Not thread-safe by itself, except `try_success`: the breaker records
    under its store's lock. The sums are exact after `record`, `snapshot`
    and `clear` (successes counted by `try_success` are added by the next
    of them).
    """

    @property
    def calls(self) -> int:
        """Outcomes in the window."""
        ...

    @property
    def failures(self) -> int:
        """Failures in the window."""
        ...

    @property
    def slow(self) -> int:
        """Slow calls in the window."""
        ...

    def record(self, outcome: int, now: float) -> None:
        """Add one outcome (`FAILED` / `SLOW` bits) observed at ``now``, evicting what fell out."""
        ...

    def try_success(self, now: float) -> bool:
        """Count a success at ``now`` without the lock, if that cannot change a decision.

        True when counted: the window holds no failure and no slow call (and,
        for a time window, ``now`` falls in the newest slice). False: record
        the success under the lock instead. Thread-safe without the lock: the
        count is one atomic operation, folded into the sums by the next
        locked method.
        """
        ...

    def snapshot(self, now: float) -> WindowSnapshot:
        """The counts at ``now`` (a time window first evicts expired buckets)."""
        ...

    @property
    def lock_free_successes(self) -> int:
        """Successes counted by `try_success` since creation, as of the last locked method."""
        ...

    def clear(self) -> None:
        """Forget every outcome."""
        ...


@dataclass(frozen=True, slots=True, init=False)
class CountWindow:
    """A window over the last ``size`` recorded calls.

    Args:
        size: How many calls the window holds; an int >= 1.
    """

    size: int

    def __init__(self, size: int) -> None:
        object.__setattr__(
            self, "size", _validate.positive_int("size", size, maximum=MAX_COUNT_WINDOW)
        )

    def create(self) -> CountRing:
        """A new, empty ring for this window."""
        return CountRing(self.size)


@dataclass(frozen=True, slots=True, init=False)
class TimeWindow:
    """A window over the calls recorded in the last ``seconds``, kept in ``buckets`` slices.

    An outcome leaves the window when its whole bucket is older than
    ``seconds``, so the window covers between ``seconds * (1 - 1/buckets)``
    and ``seconds`` of history.

    Args:
        seconds: Length of the window, ``float | timedelta`` > 0.
        buckets: Number of slices; more is finer but costs more on a time jump. Default 10.
    """

    seconds: float
    buckets: int

    def __init__(self, seconds: float | timedelta, *, buckets: int = 10) -> None:
        object.__setattr__(
            self, "seconds", _validate.duration("seconds", seconds, allow_zero=False)
        )
        object.__setattr__(self, "buckets", _validate.positive_int("buckets", buckets))

    def create(self) -> TimeRing:
        """A new, empty ring for this window."""
        return TimeRing(self.seconds, self.buckets)


class _Pending:
    """Successes counted without a lock, by one atomic ``next()`` on an `itertools.count`.

    ``take()`` (under the window's lock) returns how many were counted since
    the last take; a count is read by advancing it, so every take counts
    itself too and is subtracted.
    """

    __slots__ = ("_counter", "_read", "tick", "total")

    def __init__(self) -> None:
        self._counter = itertools.count()
        #: Count one success; atomic in CPython, so safe from any thread without a lock.
        self.tick = self._counter.__next__
        self._read = 0
        #: Every success taken so far: a monotonic total for telemetry.
        self.total = 0

    def take(self) -> int:
        value = next(self._counter)
        taken = value - self._read
        self._read = value + 1
        self.total += taken
        return taken


class Tally:
    """What a window recorded since the last `drain`: for a store that shares the counts.

    A ring given a tally (``ring.tally = Tally()``) reports each outcome to
    it under the same lock as the ring itself; successes counted lock-free
    are reported when they are folded in. ``drain()`` returns ``[calls,
    failures, slow, had_success, failures_since_last_success]`` and starts over.
    """

    __slots__ = ("calls", "failures", "slow", "success", "trailing")

    def __init__(self) -> None:
        self.calls = self.failures = self.slow = self.success = self.trailing = 0

    def add(self, outcome: int) -> None:
        """One outcome recorded."""
        self.calls += 1
        if outcome & FAILED:
            self.failures += 1
            self.trailing += 1
        else:
            self.success, self.trailing = 1, 0
        if outcome & SLOW:
            self.slow += 1

    def successes(self, count: int) -> None:
        """``count`` successes folded in (they came before anything recorded after)."""
        self.calls += count
        self.success, self.trailing = 1, 0

    def drain(self) -> list[int]:
        """The counts since the last drain; they start over from zero."""
        counts = [self.calls, self.failures, self.slow, self.success, self.trailing]
        self.calls = self.failures = self.slow = self.success = self.trailing = 0
        return counts


def window_spec(param: str, value: object) -> CountWindow | TimeWindow:
    """Validate a breaker's ``window=`` argument."""
    if isinstance(value, CountWindow | TimeWindow):
        return value
    raise ConfigError(
        f"{param}={value!r} is not allowed; expected brace.CountWindow(n) or "
        "brace.TimeWindow(seconds)"
    )


class CountRing:
    """The last ``size`` outcomes in a ring, with running sums. O(1) record and snapshot."""

    __slots__ = (
        "_n",
        "_pending",
        "_ring",
        "_size",
        "_tick",
        "calls",
        "failures",
        "slow",
        "tally",
    )

    def __init__(self, size: int) -> None:
        self._size = size
        # Unwritten slots hold 0 (a success), so evicting one subtracts nothing.
        self._ring = [0] * size
        # Outcomes recorded since the last clear. While failures == slow == 0 every slot holds
        # 0, so `_n += 1` alone records a success.
        self._n = 0
        self.calls = self.failures = self.slow = 0  # exact after any method but try_success
        self._pending = _Pending()
        self._tick = self._pending.tick
        self.tally: Tally | None = None  # set by a store that shares the counts

    def try_success(self, now: float) -> bool:  # noqa: ARG002 - Window protocol
        """Count a success lock-free while the ring holds no failure and no slow call."""
        if self.failures or self.slow:
            return False
        self._tick()
        return True

    def _fold(self) -> int:
        """Move the successes counted lock-free into the ring; returns how many."""
        taken = self._pending.take()
        if not taken:
            return 0
        if self.tally is not None:
            self.tally.successes(taken)
        left = taken
        if self.failures or self.slow:
            for _ in range(min(taken, self._size)):
                self._put(0)
            left -= min(taken, self._size)
        self._n += left  # successes into a clean ring: only the count moves
        self.calls = min(self._size, self._n)
        return taken

    def _put(self, outcome: int) -> None:
        n = self._n
        ring = self._ring
        i = n % self._size
        old = ring[i]
        ring[i] = outcome
        self._n = n + 1
        self.calls = min(self._size, n + 1)
        if outcome != old:
            self.failures += (outcome & FAILED) - (old & FAILED)
            self.slow += ((outcome & SLOW) - (old & SLOW)) >> 1

    def record(self, outcome: int, now: float) -> None:  # noqa: ARG002 - Window protocol
        """Add ``outcome``, evicting the oldest once the ring is full (``now`` is unused)."""
        self._fold()
        if self.tally is not None:
            self.tally.add(outcome)
        if not (outcome or self.failures or self.slow):
            self._n += 1  # a success into a clean ring: every slot holds 0 already
            self.calls = min(self._size, self._n)
            return
        self._put(outcome)

    def snapshot(self, now: float) -> WindowSnapshot:  # noqa: ARG002 - Window protocol
        """The counts (``now`` is unused)."""
        self._fold()
        return WindowSnapshot(self.calls, self.failures, self.slow)

    @property
    def lock_free_successes(self) -> int:
        """Successes counted by `try_success` since creation, as of the last locked method."""
        return self._pending.total

    def clear(self) -> None:
        """Forget every outcome."""
        self._pending.take()
        self._ring = [0] * self._size
        self._n = 0
        self.calls = self.failures = self.slow = 0


class TimeRing:
    """Outcomes of the last ``seconds`` in ``buckets`` time slices, with running sums.

    O(1) record and snapshot: moving to a new slice evicts at most ``buckets``
    expired slices, whatever the time jump. Slice ``k`` covers the instants
    with ``int(now * buckets / seconds) == k``; while ``now < end`` the newest
    slice is still current (a clock that went backwards keeps recording into
    it), which is one comparison on the hot path.
    """

    __slots__ = (
        "_calls",
        "_end",
        "_fails",
        "_head",
        "_n",
        "_pending",
        "_pos",
        "_rate",
        "_slow",
        "_tick",
        "calls",
        "failures",
        "slow",
        "tally",
    )

    def __init__(self, seconds: float, buckets: int) -> None:
        self._rate = buckets / seconds  # slices per second: one multiply finds a slice
        self._n = buckets
        self._calls = [0] * buckets
        self._fails = [0] * buckets
        self._slow = [0] * buckets
        self._head: int | None = None  # index (in slices since 0) of the newest slice
        self._pos = 0  # position of the newest slice in the lists: _head % buckets
        self._end = -math.inf  # when the newest slice ends; -inf while empty
        self.calls = self.failures = self.slow = 0
        # Successes counted lock-free into the newest slice (see try_success).
        self._pending = _Pending()
        self._tick = self._pending.tick
        self.tally: Tally | None = None  # set by a store that shares the counts

    def try_success(self, now: float) -> bool:
        """Count a success lock-free while the window is clean and ``now`` is in the newest slice.

        A success counted this way just as a locked call moves to the next
        slice lands in that next slice: at most one slice late.
        """
        if self.failures or self.slow or now >= self._end:
            return False
        self._tick()
        return True

    def _fold(self) -> int:
        taken = self._pending.take()
        if taken:
            self._calls[self._pos] += taken
            self.calls += taken
            if self.tally is not None:
                self.tally.successes(taken)
        return taken

    def _advance(self, now: float) -> None:
        """Make the slice holding ``now`` the newest, evicting the slices it replaces."""
        k = int(now * self._rate)
        head = self._head
        n = self._n
        if head is None or k - head >= n:
            self._reset_slices()
        elif k > head:
            for j in range(head + 1, k + 1):
                p = j % n
                self.calls -= self._calls[p]
                self.failures -= self._fails[p]
                self.slow -= self._slow[p]
                self._calls[p] = self._fails[p] = self._slow[p] = 0
        else:
            return  # `now` rounds into the newest slice: keep it
        self._head = k
        self._pos = k % n
        self._end = (k + 1) / self._rate

    def _reset_slices(self) -> None:
        n = self._n
        self._calls = [0] * n
        self._fails = [0] * n
        self._slow = [0] * n
        self.calls = self.failures = self.slow = 0

    def record(self, outcome: int, now: float) -> None:
        """Add ``outcome`` observed at ``now`` to its slice, evicting expired slices first."""
        self._fold()
        if self.tally is not None:
            self.tally.add(outcome)
        if now >= self._end:
            self._advance(now)
        p = self._pos
        self._calls[p] += 1
        self.calls += 1
        if outcome:
            if outcome & FAILED:
                self._fails[p] += 1
                self.failures += 1
            if outcome & SLOW:
                self._slow[p] += 1
                self.slow += 1

    def snapshot(self, now: float) -> WindowSnapshot:
        """The counts at ``now``, after evicting expired slices."""
        self._fold()
        if now >= self._end:
            self._advance(now)
        return WindowSnapshot(self.calls, self.failures, self.slow)

    @property
    def lock_free_successes(self) -> int:
        """Successes counted by `try_success` since creation, as of the last locked method."""
        return self._pending.total

    def clear(self) -> None:
        """Forget every outcome."""
        self._pending.take()
        self._reset_slices()
        self._head = None
        self._end = -math.inf
