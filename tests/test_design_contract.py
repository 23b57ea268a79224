"""The public API's sketch, written out and run: the names and shapes users rely on."""

from __future__ import annotations

import asyncio
import random

import pytest

import brace
from brace.testing import VirtualClock, no_wait


def cached_recommendations(user: str) -> list[str]:
    raise LookupError("cache miss")


def popular_products(user: str) -> list[str]:
    return ["popular"]


def build(clock: VirtualClock) -> tuple[brace.CircuitBreaker, brace.Pipeline]:
    breaker = brace.CircuitBreaker(
        "payments",
        failure_rate=0.5,
        minimum_calls=20,
        window=brace.CountWindow(100),
        consecutive_failures=None,
        slow_call_duration=None,
        slow_call_rate=1.0,
        open_for=30.0,
        half_open_calls=5,
        record=Exception,
        ignore=(),
        failure_if=None,
        clock=clock,
    )
    retry = brace.Retry(
        attempts=3,
        backoff=brace.Backoff.exponential(
            initial=0.1, multiplier=2.0, max_delay=10.0, jitter="full"
        ),
        on=(ConnectionError, TimeoutError),
        on_result=None,
        max_elapsed=None,
        budget=brace.RetryBudget(ratio=0.1, min_per_second=10, clock=clock),
        respect_retry_after=True,
        rng=random.Random(1),
        clock=clock,
    )
    bulkhead = brace.Bulkhead("inventory", max_concurrent=10, max_queue=0, max_wait=0.0)
    limiter = brace.RateLimiter("search", rate=100, per=1.0, burst=100, clock=clock)
    fallback = brace.Fallback([cached_recommendations, popular_products])
    timeout = brace.Timeout(2.0)
    policy = brace.pipeline(fallback, retry, breaker, limiter, bulkhead, timeout)
    return breaker, policy


def test_design_sketch_sync() -> None:
    clock = VirtualClock()
    breaker, policy = build(clock)
    calls = 0

    @policy
    def charge(order: str) -> list[str]:
        nonlocal calls
        calls += 1
        if order == "bad":
            raise ConnectionError("refused")
        return [order]

    assert charge("ok") == ["ok"]
    with no_wait():
        assert charge("bad") == ["popular"]  # retried 3 times, then the second alternative
    assert calls == 4
    assert policy.call(charge.__wrapped__, "ok") == ["ok"]  # type: ignore[attr-defined]
    assert breaker.state.name == "CLOSED"
    breaker.force_open()
    assert breaker.state.name == "FORCED_OPEN"
    assert charge("ok") == ["popular"]  # rejected by the breaker, served by the fallback
    breaker.disable()
    assert breaker.state.name == "DISABLED"
    breaker.reset()
    snapshot = breaker.metrics()
    assert brace.State.CLOSED is snapshot.state
    assert snapshot.calls == 0
    assert [d["policy"] for d in policy.describe()] == [
        "Fallback",
        "Retry",
        "CircuitBreaker",
        "RateLimiter",
        "Bulkhead",
        "Timeout",
    ]


def test_design_sketch_async_and_deadline() -> None:
    clock = VirtualClock()
    _, policy = build(clock)

    @policy
    async def fetch(url: str) -> list[str]:
        return [url]

    async def main() -> tuple[list[str], list[str], float | None]:
        direct = await fetch("u")
        via = await policy.acall(fetch.__wrapped__, "v")  # type: ignore[attr-defined]
        with brace.deadline(5.0, clock=clock):
            left = brace.remaining()
        return direct, via, left

    assert asyncio.run(main()) == (["u"], ["v"], 5.0)
    assert brace.remaining() is None


def test_hedge_is_async_only() -> None:
    hedge = brace.Hedge(delay=0.05, max_extra=1)

    def sync() -> int:
        return 1

    with pytest.raises(TypeError, match="asyncio"):
        hedge(sync)


def test_errors_carry_what_design_names() -> None:
    breaker = brace.CircuitBreaker("p", consecutive_failures=1, open_for=30.0, clock=VirtualClock())
    with pytest.raises(ZeroDivisionError):
        breaker.call(lambda: 1 / 0)
    with pytest.raises(brace.CircuitOpenError) as info:
        breaker.call(lambda: 1)
    assert info.value.policy == "p"
    assert info.value.retry_after == 30.0
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert isinstance(info.value, brace.RejectedError)
