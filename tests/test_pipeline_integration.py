"""The recommended pipeline under random failures, timeouts and cancellations, in virtual time.

Every policy must give back what it took (bulkhead permits, half-open trial
slots) however a call ends; this drives them together through thousands of
calls and then checks that nothing is left held.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading

import pytest

import brace
from brace.testing import VirtualClock, run


def build(clock: VirtualClock) -> tuple[brace.Pipeline, brace.CircuitBreaker, brace.Bulkhead]:
    breaker = brace.CircuitBreaker(
        "dep",
        failure_rate=0.6,
        minimum_calls=10,
        window=brace.TimeWindow(seconds=5),
        open_for=0.5,
        half_open_calls=3,
        clock=clock,
    )
    bulkhead = brace.Bulkhead("dep", max_concurrent=8, max_queue=16, max_wait=0.2, clock=clock)
    policy = brace.pipeline(
        brace.Fallback("fallback"),
        brace.Retry(
            attempts=3,
            backoff=brace.Backoff.exponential(initial=0.01, max_delay=0.2, jitter="full"),
            on=(ConnectionError, TimeoutError),
            rng=random.Random(7),
            clock=clock,
        ),
        breaker,
        bulkhead,
        brace.Timeout(0.1, clock=clock),
    )
    return policy, breaker, bulkhead


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_nothing_leaks_under_random_failures_timeouts_and_cancellations(seed: int) -> None:
    clock = VirtualClock()
    policy, breaker, bulkhead = build(clock)
    rng = random.Random(seed)
    outcomes = {"ok": 0, "fallback": 0, "cancelled": 0}
    transitions: list[str] = []
    breaker.listen(
        lambda e: transitions.append(e.new) if isinstance(e, brace.StateChanged) else None
    )

    @policy
    async def dependency(n: int) -> str:
        await asyncio.sleep(rng.expovariate(1 / 0.05))  # noqa: TID251 - virtual time
        # A two-second outage in the middle of the run trips the breaker; trials follow.
        if 5.0 <= clock.monotonic() < 7.0 or rng.random() < 0.15:
            raise ConnectionError(f"refused {n}")
        return "ok"

    async def caller(n: int) -> None:
        try:
            with brace.deadline(rng.uniform(0.05, 1.0), clock=clock):
                result = await dependency(n)
        except asyncio.CancelledError:
            outcomes["cancelled"] += 1
            raise
        outcomes["ok" if result == "ok" else "fallback"] += 1

    async def main() -> None:
        tasks: list[asyncio.Task[None]] = []
        for n in range(1500):
            task = asyncio.create_task(caller(n))
            tasks.append(task)
            if rng.random() < 0.15:
                asyncio.get_running_loop().call_later(rng.uniform(0, 0.04), task.cancel)
            await asyncio.sleep(rng.expovariate(100))  # noqa: TID251 - virtual time
        await asyncio.gather(*tasks, return_exceptions=True)
        # The run went through every state, so trial slots were taken and given back.
        assert {"OPEN", "HALF_OPEN", "CLOSED"} <= set(transitions)

        metrics = bulkhead.metrics()
        assert (metrics.in_flight, metrics.queued) == (0, 0)
        # Every half-open trial slot came back: after open_for, exactly half_open_calls
        # trials are admitted at once and the next is rejected.
        breaker.force_open()
        breaker.reset()
        for _ in range(12):
            with contextlib.suppress(ConnectionError, brace.CircuitOpenError):
                await breaker.acall(_fail)
        assert breaker.state.name == "OPEN"
        clock.advance(0.5)
        permits = [breaker.acquire() for _ in range(3)]
        with pytest.raises(brace.CircuitOpenError):
            breaker.acquire()
        for permit in permits:
            permit.success()
        assert breaker.state.name == "CLOSED"

    run(main(), clock)
    assert outcomes["cancelled"] > 50
    assert outcomes["ok"] > 100
    assert outcomes["fallback"] > 10
    assert sum(outcomes.values()) == 1500


async def _fail() -> None:
    raise ConnectionError("down")


def test_threads_and_tasks_share_one_pipeline_without_leaks() -> None:
    clock = VirtualClock()
    policy, _, bulkhead = build(clock)

    @policy
    def sync_dependency(n: int) -> str:
        if n % 4 == 0:
            raise ConnectionError("refused")
        return "ok"

    @policy
    async def async_dependency(n: int) -> str:
        if n % 5 == 0:
            raise ConnectionError("refused")
        return "ok"

    results: list[str] = []
    lock = threading.Lock()

    def worker(offset: int) -> None:
        for n in range(offset, offset + 300):
            value = sync_dependency(n)
            with lock:
                results.append(value)

    async def tasks() -> list[str]:
        return list(await asyncio.gather(*(async_dependency(n) for n in range(600))))

    threads = [threading.Thread(target=worker, args=(i * 1000,)) for i in range(3)]
    for t in threads:
        t.start()
    async_results = asyncio.run(tasks())
    for t in threads:
        t.join()
    assert len(results) == 900
    assert len(async_results) == 600
    assert set(results) | set(async_results) <= {"ok", "fallback"}
    metrics = bulkhead.metrics()
    assert (metrics.in_flight, metrics.queued) == (0, 0)
