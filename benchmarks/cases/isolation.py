"""Isolation rows: bulkhead, timeout, rate limiter (happy path), hand-written refs, peers."""

from __future__ import annotations

import asyncio
import threading
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import brace
from benchmarks._harness import FLOOR, Case

G = "isolation"
SEM = "async with asyncio.Semaphore (by hand)"
ATIMEOUT = "async with asyncio.timeout() (by hand)"
BUCKET = "hand-written token bucket"
PIPELINE = "recommended pipeline (retry, breaker, bulkhead)"


def f() -> int:
    return 1


async def af() -> int:
    return 1


class TokenBucket:
    """What one writes by hand: a lock, a refill from elapsed time, one token per call."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.last = burst, time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


def _hand_written() -> tuple[Callable[[], object], Callable[[], Awaitable[object]]]:
    bucket = TokenBucket(1e9, 1e9)

    def limited() -> int:
        if not bucket.take():
            raise RuntimeError("rate limited")
        return f()

    async def alimited() -> int:
        if not bucket.take():
            raise RuntimeError("rate limited")
        return await af()

    return limited, alimited


def _sync_peers() -> list[Case]:
    out: list[Case] = []
    try:
        from limits import RateLimitItemPerSecond, storage, strategies

        item = RateLimitItemPerSecond(1_000_000_000)
        window = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

        def with_limits() -> int:
            if not window.hit(item, "bench"):
                raise RuntimeError("rate limited")
            return f()

        out.append(Case(G, "peer limits (moving window, memory)", with_limits))
    except ImportError:
        pass
    try:
        from pyrate_limiter import Duration, Limiter, Rate

        limiter = Limiter(Rate(1_000_000_000, Duration.SECOND))

        def with_pyrate() -> int:
            if not limiter.try_acquire("bench", blocking=False):
                raise RuntimeError("rate limited")
            return f()

        out.append(Case(G, "peer pyrate-limiter try_acquire", with_pyrate))
    except ImportError:
        pass
    return out


def _async_peers() -> list[Case]:
    out: list[Case] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from hyx.bulkhead import bulkhead as hyx_bulkhead
            from hyx.timeout import timeout as hyx_timeout

        out.append(
            Case(
                G,
                "peer hyx bulkhead",
                hyx_bulkhead(max_concurrency=10, max_capacity=10)(af),
                "async",
            )
        )
        decorated: list[Callable[[], Awaitable[int]]] = []

        async def with_hyx_timeout() -> int:
            # hyx binds its timer to the running loop at decoration time: decorate on first use.
            if not decorated:
                decorated.append(hyx_timeout(30.0)(af))
            return await decorated[0]()

        out.append(Case(G, "peer hyx timeout", with_hyx_timeout, "async"))
    except ImportError:
        pass
    try:
        from aiolimiter import AsyncLimiter

        limiter = AsyncLimiter(1_000_000_000, 1)

        async def with_aiolimiter() -> int:
            async with limiter:
                return await af()

        out.append(Case(G, "peer aiolimiter", with_aiolimiter, "async"))
    except ImportError:
        pass
    return out


def _pipelines() -> list[Case]:
    if not (hasattr(brace, "Retry") and hasattr(brace, "CircuitBreaker")):
        return []
    policy: Any = brace.pipeline(
        brace.Retry(attempts=3),
        brace.CircuitBreaker("bench-pipeline"),
        brace.Bulkhead("bench-pipeline", max_concurrent=10),
    )
    return [
        Case(G, PIPELINE, policy(f), ref=FLOOR),
        Case(G, PIPELINE, policy(af), "async", ref=FLOOR),
    ]


def cases() -> list[Case]:
    bulkhead = brace.Bulkhead("bench", max_concurrent=10)
    limiter = brace.RateLimiter("bench", rate=1e9)
    timeout = brace.Timeout(30.0)
    sem = asyncio.Semaphore(10)
    limited, alimited = _hand_written()

    async def by_hand_semaphore() -> int:
        async with sem:
            return await af()

    async def by_hand_timeout() -> int:
        async with asyncio.timeout(30.0):
            return await af()

    return [
        Case(G, "bulkhead (free capacity)", bulkhead(f), ref=FLOOR),
        Case(G, "rate limiter (under its limit)", limiter(f), ref=BUCKET),
        Case(G, BUCKET, limited),
        *_sync_peers(),
        Case(G, "timeout, sync (worker thread handoff)", timeout(f), ref=FLOOR, number=200),
        Case(G, "bulkhead (free capacity)", bulkhead(af), "async", ref=SEM),
        Case(G, SEM, by_hand_semaphore, "async"),
        Case(G, "timeout (within limit)", timeout(af), "async", ref=ATIMEOUT),
        Case(G, ATIMEOUT, by_hand_timeout, "async"),
        Case(G, "rate limiter (under its limit)", limiter(af), "async", ref=BUCKET),
        Case(G, BUCKET, alimited, "async"),
        *_async_peers(),
        *_pipelines(),
    ]
