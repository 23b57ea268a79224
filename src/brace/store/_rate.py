"""The rate limiter's state seam: the GCRA rule, its store protocol and the in-memory store.

A rate limiter's whole state per key is one number, the *theoretical arrival
time* (TAT) of GCRA, the Generic Cell Rate Algorithm: a token bucket that
keeps the time at which it would be full instead of a token count. A store
applies `gcra` atomically, so a shared store (`brace.store.RedisStore`) runs
the same arithmetic in one script and processes named alike share one limit.
"""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable

__all__ = ["MemoryRateStore", "RateStore", "SharedRateStore", "gcra"]

# Float noise from summing intervals (0.1 + 0.1 + 0.1) must not turn "now" into a tiny wait.
_EPSILON = 1e-9


def gcra(
    tat: float, now: float, interval: float, burst: float, max_wait: float
) -> tuple[float, float]:
    """One GCRA decision: ``(new tat, wait)``; the call is refused when ``wait > max_wait``.

    Args:
        tat: The stored theoretical arrival time (any value <= ``now`` means "full bucket").
        now: The current time on the limiter's clock.
        interval: Seconds per call at the sustained rate (``per / rate``).
        burst: Calls allowed back to back from a full bucket.
        max_wait: Longest wait the caller accepts.

    Returns:
        ``(tat after this call, seconds to wait before calling)``. When the
        wait exceeds ``max_wait`` nothing is reserved: the returned tat is the
        old one and the wait is the time until a call would be allowed.
    """
    new_tat = max(tat, now) + interval
    wait = new_tat - burst * interval - now
    if wait <= _EPSILON:
        return new_tat, 0.0
    if wait > max_wait:
        return tat, wait
    return new_tat, wait


@runtime_checkable
class RateStore(Protocol):
    """Where rate limiters keep their state; one entry per limiter name."""

    def reserve(
        self, key: str, now: float, interval: float, burst: float, max_wait: float
    ) -> float:
        """Atomically apply `gcra` to ``key``'s state and return the wait.

        A wait above ``max_wait`` means refused (nothing reserved) and is the
        time until a call would be allowed; otherwise the slot is taken and
        the caller must wait that long (0.0 = go now) before calling.
        """
        ...

    def reset(self, key: str) -> None:
        """Forget ``key``'s state: the next call sees a full bucket."""
        ...


class SharedRateStore(RateStore, Protocol):
    """A `RateStore` reached over the network: the asyncio shell awaits `areserve`."""

    async def areserve(
        self, key: str, now: float, interval: float, burst: float, max_wait: float
    ) -> float:
        """`RateStore.reserve`, without blocking the event loop."""
        ...


class MemoryRateStore:
    """The default `RateStore`: a dict of TATs behind one lock, for one process."""

    __slots__ = ("_lock", "_tats")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tats: dict[str, float] = {}

    def reserve(
        self, key: str, now: float, interval: float, burst: float, max_wait: float
    ) -> float:
        """Apply `gcra` to ``key`` atomically; see `RateStore.reserve`."""
        tats = self._tats
        # gcra() inlined on the hot path. `with`, not acquire() then try: an interrupt
        # (Ctrl-C) just after acquire() returned would leave the lock held for good.
        with self._lock:
            tat = tats.get(key, now)
            new_tat = (tat if tat > now else now) + interval  # noqa: FURB136 - max() is a call
            wait = new_tat - burst * interval - now
            if wait <= _EPSILON:
                tats[key] = new_tat
                return 0.0
            if wait <= max_wait:
                tats[key] = new_tat
        return wait

    def reset(self, key: str) -> None:
        """Forget ``key``'s state."""
        with self._lock:
            self._tats.pop(key, None)

    def __repr__(self) -> str:
        return f"MemoryRateStore(keys={len(self._tats)})"
