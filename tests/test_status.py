"""brace.policies() and brace.status(): live named policies, plain data, monotonic totals."""

from __future__ import annotations

import gc
import json
import threading
from typing import Any

import pytest

import brace
from brace.testing import VirtualClock
from tests.conftest import Driver


def boom() -> None:
    raise ConnectionError("refused")


def ok() -> str:
    return "ok"


def entries(name: str) -> list[dict[str, Any]]:
    return [e for e in brace.status()["policies"] if e["name"] == name]


def test_policies_lists_named_policies_weakly_and_never_pipelines() -> None:
    breaker = brace.CircuitBreaker("reg-breaker")
    retry = brace.Retry("reg-retry")
    unnamed = brace.Bulkhead(max_concurrent=1)
    pipeline = brace.pipeline(retry, breaker, unnamed)
    listed = brace.policies()
    assert breaker in listed
    assert retry in listed
    assert unnamed not in listed
    assert pipeline not in listed
    assert listed.index(breaker) < listed.index(retry)  # oldest first
    del breaker, pipeline, listed
    gc.collect()
    assert [p.name for p in brace.policies() if p.name == "reg-breaker"] == []
    assert retry in brace.policies()


def test_status_is_plain_json_with_state_metrics_config_and_transitions(
    driver: Driver, clock: VirtualClock
) -> None:
    name = f"st-pay-{driver.mode}"
    breaker = brace.CircuitBreaker(
        name, consecutive_failures=1, open_for=10, half_open_calls=1, clock=clock
    )
    with pytest.raises(ConnectionError):
        driver.run(breaker, boom)
    clock.advance(4)
    with pytest.raises(brace.CircuitOpenError):
        driver.run(breaker, ok)
    (entry,) = entries(name)
    assert json.loads(json.dumps(entry, allow_nan=False)) == entry
    assert (entry["policy"], entry["state"]) == ("CircuitBreaker", "OPEN")
    assert entry["config"] == {"consecutive_failures": 1, "open_for": 10.0, "half_open_calls": 1}
    metrics = entry["metrics"]
    assert (
        metrics["calls_total"],
        metrics["failures_total"],
        metrics["rejections_total"],
        metrics["time_in_state"],
    ) == (1, 1, 1, 4.0)
    assert entry["transitions"] == [
        {
            "at": 1_700_000_000.0,
            "age": 4.0,
            "old": "CLOSED",
            "new": "OPEN",
            "reason": "1 consecutive failures",
        }
    ]


def test_totals_survive_reset_while_window_counts_restart(clock: VirtualClock) -> None:
    breaker = brace.CircuitBreaker("st-reset", consecutive_failures=2, clock=clock)
    breaker.call(ok)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            breaker.call(boom)
    with pytest.raises(brace.CircuitOpenError):
        breaker.call(ok)
    breaker.reset()
    breaker.call(ok)
    metrics = breaker.metrics()
    assert (metrics.rejected, metrics.calls) == (0, 1)  # since the reset
    assert (metrics.calls_total, metrics.failures_total, metrics.rejections_total) == (4, 2, 1)


def test_totals_count_every_lock_free_success_from_many_threads() -> None:
    breaker = brace.CircuitBreaker("st-threads", window=brace.CountWindow(50), minimum_calls=50)
    guarded = breaker(ok)
    start = threading.Barrier(4)

    def work() -> None:
        start.wait()
        for _ in range(5_000):
            guarded()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with pytest.raises(ConnectionError):
        breaker.call(boom)
    metrics = breaker.metrics()
    assert (metrics.calls_total, metrics.failures_total, metrics.calls) == (20_001, 1, 50)


def test_slow_calls_are_totalled(clock: VirtualClock) -> None:
    breaker = brace.CircuitBreaker("st-slow", slow_call_duration=1.0, clock=clock)

    def slow() -> str:
        clock.advance(2)
        return "late"

    breaker.call(slow)
    breaker.call(ok)
    assert (
        breaker.metrics().calls_total,
        breaker.metrics().failures_total,
        breaker.metrics().slow_total,
    ) == (2, 0, 1)


def test_retry_bulkhead_limiter_timeout_and_throttle_entries(
    driver: Driver, clock: VirtualClock
) -> None:
    retry = brace.Retry(f"st-retry-{driver.mode}", attempts=3, backoff=[0.0, 0.0], clock=clock)
    with pytest.raises(ConnectionError):
        driver.run(retry, boom)
    limiter = brace.RateLimiter(f"st-limit-{driver.mode}", rate=1, per=60, clock=clock)
    driver.run(limiter, ok)
    with pytest.raises(brace.RateLimitedError):
        driver.run(limiter, ok)
    bulkhead = brace.Bulkhead(f"st-bulk-{driver.mode}", max_concurrent=3)
    timeout = brace.Timeout(1.0, name=f"st-timeout-{driver.mode}")
    throttle = brace.Throttle(f"st-throttle-{driver.mode}", clock=clock)
    assert entries(f"st-retry-{driver.mode}")[0]["metrics"] == {
        "retries_total": 2,
        "gave_up_total": 1,
    }
    assert entries(f"st-limit-{driver.mode}")[0]["metrics"]["rejections_total"] == 1
    assert entries(f"st-bulk-{driver.mode}")[0]["metrics"] == {
        "in_flight": 0,
        "queued": 0,
        "rejected": 0,
        "max_in_flight": 0,
        "max_queued": 0,
        "rejections_total": 0,
    }
    assert entries(f"st-bulk-{driver.mode}")[0]["config"] == {
        "max_concurrent": 3,
        "max_queue": 0,
        "max_wait": 0.0,
    }
    assert entries(f"st-timeout-{driver.mode}")[0]["metrics"]["timed_out"] == 0
    assert entries(f"st-throttle-{driver.mode}")[0]["metrics"]["reject_probability"] == 0.0
    assert "state" not in entries(f"st-bulk-{driver.mode}")[0]
    del bulkhead, throttle, timeout


def test_status_takes_odd_config_values_as_plain_data() -> None:
    fallback = brace.Fallback([float("inf")], name="st-odd")
    retry = brace.Retry("st-odd-retry", backoff=brace.Backoff.exponential(), attempts=None)
    text = json.dumps(brace.status(), allow_nan=False)
    assert "st-odd" in text
    assert entries("st-odd-retry")[0]["config"]["attempts"] is None
    del fallback, retry
