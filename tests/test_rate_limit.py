"""RateLimiter: GCRA arithmetic on virtual time, waits bounded by max_wait and the deadline."""

from __future__ import annotations

import asyncio
import runpy
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import brace
from brace.store import MemoryRateStore, RateStore, gcra
from brace.testing import EventRecorder, VirtualClock, no_wait
from tests.conftest import Driver

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


def limiter(clock: VirtualClock, **kwargs: Any) -> brace.RateLimiter:
    kwargs.setdefault("rate", 10)
    return brace.RateLimiter("rl", clock=clock, **kwargs)


def attempt(driver: Driver, policy: brace.RateLimiter) -> float | None:
    """Run one call: None when allowed, else the RateLimitedError's retry_after."""
    try:
        driver.run(policy, lambda: None)
    except brace.RateLimitedError as exc:
        return exc.retry_after
    return None


# -- configuration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"rate": 0}, "rate"),
        ({"rate": -1}, "rate"),
        ({"rate": float("nan")}, "rate"),
        ({"rate": float("inf")}, "rate"),
        ({"rate": True}, "rate"),
        ({"rate": 1, "per": 0}, "per"),
        ({"rate": 1, "per": -1.0}, "per"),
        ({"rate": 1, "per": float("inf")}, "per"),
        ({"rate": 1, "burst": 0.5}, "burst"),
        ({"rate": 1, "burst": 0}, "burst"),
        ({"rate": 1, "max_wait": -0.1}, "max_wait"),
        ({"rate": 1, "max_wait": float("nan")}, "max_wait"),
        ({"rate": 1, "store": object()}, "store"),
    ],
)
def test_bad_configuration_names_the_parameter(kwargs: dict[str, Any], param: str) -> None:
    with pytest.raises(brace.ConfigError, match=param):
        brace.RateLimiter("rl", **kwargs)


def test_burst_defaults_to_the_rate_and_at_least_one() -> None:
    assert brace.RateLimiter(rate=100).burst == 100
    assert brace.RateLimiter(rate=0.5).burst == 1
    assert brace.RateLimiter(rate=3, burst=7).burst == 7
    assert (
        repr(brace.RateLimiter("s", rate=5))
        == "brace.RateLimiter('s', rate=5.0, per=1.0, burst=5.0, max_wait=0.0)"
    )


# -- arithmetic on virtual time ------------------------------------------------------------


def test_a_burst_then_one_call_per_interval(driver: Driver, clock: VirtualClock) -> None:
    policy = limiter(clock, rate=10, per=1.0, burst=3)
    assert [attempt(driver, policy) for _ in range(3)] == [None, None, None]
    assert attempt(driver, policy) == pytest.approx(0.1)
    clock.advance(0.1)
    assert attempt(driver, policy) is None
    assert attempt(driver, policy) == pytest.approx(0.1)
    clock.advance(0.05)
    assert attempt(driver, policy) == pytest.approx(0.05)
    assert policy.metrics().rejected == 3


def test_a_quiet_spell_refills_up_to_the_burst_only(driver: Driver, clock: VirtualClock) -> None:
    policy = limiter(clock, rate=2, per=1.0, burst=2)
    clock.advance(3600.0)
    results = [attempt(driver, policy) for _ in range(3)]
    assert results[:2] == [None, None]
    assert results[2] == pytest.approx(0.5)


def test_the_sustained_rate_holds_over_many_intervals(driver: Driver, clock: VirtualClock) -> None:
    # Float noise from adding 0.1 many times must not refuse a call that is on time.
    policy = limiter(clock, rate=10, per=1.0, burst=1)
    for _ in range(100):
        assert attempt(driver, policy) is None
        clock.advance(0.1)
    assert policy.metrics().rejected == 0


def test_over_the_limit_waits_for_its_slot_on_the_clock(
    driver: Driver, clock: VirtualClock
) -> None:
    policy = limiter(clock, rate=4, per=1.0, burst=1, max_wait=1.0)
    for _ in range(4):
        driver.run(policy, lambda: None)
    assert clock.sleeps == pytest.approx([0.25, 0.25, 0.25])
    assert clock.monotonic() == pytest.approx(0.75)
    metrics = policy.metrics()
    assert (metrics.rejected, metrics.delayed) == (0, 3)
    assert metrics.waited == pytest.approx(0.75)


def test_waiters_reserve_slots_in_arrival_order(clock: VirtualClock) -> None:
    # Two callers arrive together: the second is told to wait one interval more.
    policy = limiter(clock, rate=1, burst=1, max_wait=5.0)
    take = policy._taker()
    waits = [take() for _ in range(3)]
    assert waits == pytest.approx([0.0, 1.0, 2.0])


def test_a_wait_longer_than_max_wait_fails_at_once(
    driver: Driver, clock: VirtualClock, recorder: EventRecorder
) -> None:
    policy = limiter(clock, rate=1, burst=1, max_wait=0.5)
    driver.run(policy, lambda: None)
    with pytest.raises(brace.RateLimitedError) as caught:
        driver.run(policy, lambda: None)
    assert caught.value.policy == "rl"
    assert caught.value.retry_after == pytest.approx(1.0)
    assert clock.sleeps == []
    assert recorder.of(brace.CallRejected) == [brace.CallRejected("rl", "rate limited", 1.0)]


def test_a_refused_call_reserves_nothing(driver: Driver, clock: VirtualClock) -> None:
    policy = limiter(clock, rate=1, burst=1)
    driver.run(policy, lambda: None)
    for _ in range(5):
        assert attempt(driver, policy) == pytest.approx(1.0)
    clock.advance(1.0)
    assert attempt(driver, policy) is None


def test_a_wait_past_the_deadline_fails_at_once(driver: Driver, clock: VirtualClock) -> None:
    policy = limiter(clock, rate=1, burst=1, max_wait=10.0)
    driver.run(policy, lambda: None)
    with brace.deadline(0.5, clock=clock), pytest.raises(brace.RateLimitedError) as caught:
        driver.run(policy, lambda: None)
    assert caught.value.retry_after == pytest.approx(1.0)
    assert clock.sleeps == []
    with brace.deadline(2.0, clock=clock):
        driver.run(policy, lambda: None)
    assert clock.sleeps == pytest.approx([1.0])


def test_no_wait_skips_the_sleep_but_keeps_the_accounting(
    driver: Driver, clock: VirtualClock
) -> None:
    policy = limiter(clock, rate=1, burst=1, max_wait=10.0)
    with no_wait():
        driver.run(policy, lambda: None)
        driver.run(policy, lambda: None)
    assert clock.sleeps == []
    assert policy.metrics().delayed == 1


def test_reset_refills_the_bucket(driver: Driver, clock: VirtualClock) -> None:
    policy = limiter(clock, rate=1, burst=1)
    driver.run(policy, lambda: None)
    assert attempt(driver, policy) is not None
    policy.reset()
    assert attempt(driver, policy) is None


def test_result_and_exceptions_pass_through(driver: Driver, clock: VirtualClock) -> None:
    policy = limiter(clock)
    assert driver.call(policy, lambda x: x * 2, 21) == 42

    def fail() -> None:
        raise LookupError

    with pytest.raises(LookupError):
        driver.run(policy, fail)


def test_limiters_sharing_a_store_and_name_share_the_limit(clock: VirtualClock) -> None:
    store = MemoryRateStore()
    first = brace.RateLimiter("api", rate=2, clock=clock, store=store)
    second = brace.RateLimiter("api", rate=2, clock=clock, store=store)
    other = brace.RateLimiter("other", rate=2, clock=clock, store=store)
    first.call(lambda: None)
    second.call(lambda: None)
    with pytest.raises(brace.RateLimitedError):
        first.call(lambda: None)
    other.call(lambda: None)
    assert isinstance(store, RateStore)


def test_threads_never_exceed_the_burst(clock: VirtualClock) -> None:
    policy = limiter(clock, rate=50, burst=50)
    allowed: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def worker() -> None:
        start.wait()
        for _ in range(100):
            try:
                policy.call(lambda: None)
            except brace.RateLimitedError:
                continue
            with lock:
                allowed.append(1)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 50
    assert policy.metrics().rejected == 350


async def test_async_wait_sleeps_on_the_clock(clock: VirtualClock) -> None:
    policy = limiter(clock, rate=2, burst=1, max_wait=5.0)

    @policy
    async def ping() -> int:
        return 1

    assert [await ping() for _ in range(3)] == [1, 1, 1]
    assert clock.sleeps == pytest.approx([0.5, 0.5])
    assert isinstance(asyncio.current_task(), asyncio.Task)


# -- the pure rule against a reference token bucket ------------------------------------------


class Bucket:
    """A textbook token bucket: tokens refill continuously up to the burst."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.last = burst, 0.0

    def take(self, now: float) -> float:
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1 - 1e-9:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@settings(max_examples=150, deadline=None)
@given(
    rate=st.sampled_from([0.5, 1.0, 3.0, 10.0, 250.0]),
    burst=st.integers(1, 20),
    gaps=st.lists(st.floats(0, 2, allow_nan=False), min_size=1, max_size=60),
)
def test_gcra_refuses_exactly_when_a_token_bucket_would(
    rate: float, burst: int, gaps: list[float]
) -> None:
    bucket = Bucket(rate, burst)
    store = MemoryRateStore()
    tat, now = 0.0, 0.0
    for gap in gaps:
        now += gap
        expected = bucket.take(now)
        tat, wait = gcra(tat, now, 1 / rate, burst, 0.0)
        stored = store.reserve("k", now, 1 / rate, burst, 0.0)
        assert stored == pytest.approx(wait, abs=1e-6)
        assert (wait > 0) == (expected > 0)
        assert wait == pytest.approx(expected, abs=1e-6)


def test_docs_example_runs() -> None:
    runpy.run_path(str(EXAMPLES / "rate_limiting.py"), run_name="__main__")
