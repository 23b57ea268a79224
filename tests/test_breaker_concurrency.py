"""The breaker under real threads and event loops: no lock around calls, exact counts, no leaks."""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections import Counter
from collections.abc import Callable

import pytest

import brace
from brace._breaker_state import AUTOMATIC, State
from brace.testing import EventRecorder, VirtualClock


class Boom(Exception):
    pass


def in_threads(n: int, target: Callable[[int], None]) -> None:
    errors: list[BaseException] = []

    def body(i: int) -> None:
        try:
            target(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []


def test_two_threads_run_inside_a_closed_breaker_at_once() -> None:
    breaker = brace.CircuitBreaker("parallel")
    barrier = threading.Barrier(2)

    @breaker
    def meet() -> None:
        barrier.wait(timeout=10)  # raises BrokenBarrierError if the other can never get in

    in_threads(2, lambda _i: meet())


async def test_two_tasks_run_inside_a_closed_breaker_at_once() -> None:
    breaker = brace.CircuitBreaker("parallel")
    inside = 0
    both = asyncio.Event()

    @breaker
    async def meet() -> None:
        nonlocal inside
        inside += 1
        if inside == 2:
            both.set()
        await asyncio.wait_for(both.wait(), timeout=10)

    await asyncio.gather(meet(), meet())


def test_half_open_admits_exactly_the_trial_slots_to_concurrent_threads() -> None:
    clock = VirtualClock()
    breaker = brace.CircuitBreaker(
        "trials", consecutive_failures=1, half_open_calls=3, open_for=1, clock=clock
    )
    breaker.acquire().failure()
    clock.advance(1)
    barrier = threading.Barrier(4)  # three trials and this thread
    admitted: list[int] = []
    rejected: list[int] = []
    release = threading.Event()

    @breaker
    def trial() -> None:
        barrier.wait(timeout=10)
        release.wait(timeout=10)

    def body(i: int) -> None:
        try:
            trial()
            admitted.append(i)
        except brace.CircuitOpenError:
            rejected.append(i)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    try:
        barrier.wait(timeout=10)  # all three trials are inside the breaker now
        with pytest.raises(brace.CircuitOpenError) as info:
            breaker.call(lambda: None)
        assert info.value.retry_after is None
    finally:
        release.set()
        for t in threads:
            t.join(timeout=10)
    assert (sorted(admitted), rejected) == ([0, 1, 2], [])
    assert breaker.state is State.CLOSED


def test_stress_counts_are_exact_after_many_threaded_calls() -> None:
    clock = VirtualClock()  # frozen: every outcome stays in the time window
    breaker = brace.CircuitBreaker(
        "stress", window=brace.TimeWindow(60), minimum_calls=10**9, clock=clock
    )
    per_thread = 60_000
    failures = [0] * 4

    @breaker
    def work(fail: bool) -> None:
        if fail:
            raise Boom

    def body(i: int) -> None:
        rng = random.Random(i)
        for _ in range(per_thread):
            fail = rng.random() < 0.3
            try:
                work(fail)
            except Boom:
                failures[i] += 1

    in_threads(4, body)
    metrics = breaker.metrics()
    assert (metrics.calls, metrics.failures, metrics.state) == (
        4 * per_thread,
        sum(failures),
        State.CLOSED,
    )


def test_lock_free_rejections_are_counted_exactly_while_metrics_are_read() -> None:
    clock = VirtualClock()
    breaker = brace.CircuitBreaker("rejecting", consecutive_failures=1, open_for=60, clock=clock)
    breaker.acquire().failure()
    per_thread = 40_000
    reads: list[int] = []

    def body(i: int) -> None:
        if i == 3:  # a reader: every read also advances the shared counter
            while len(reads) < 2_000:
                reads.append(breaker.metrics().rejected)
            return
        for _ in range(per_thread):
            with contextlib.suppress(brace.CircuitOpenError):
                breaker.call(lambda: None)

    in_threads(4, body)
    assert breaker.metrics().rejected == 3 * per_thread
    assert reads == sorted(reads)  # never counts backwards


def test_stress_churn_keeps_state_and_counters_consistent() -> None:
    clock = VirtualClock()
    recorder = EventRecorder()
    breaker = brace.CircuitBreaker(
        "churn", consecutive_failures=2, half_open_calls=2, open_for=0.001, clock=clock
    )
    breaker.listen(recorder)
    rejections = [0] * 4
    per_thread = 40_000

    def body(i: int) -> None:
        rng = random.Random(100 + i)
        for n in range(per_thread):
            if n % 50 == 0:
                clock.advance(0.001)
            roll = rng.random()
            try:
                permit = breaker.acquire()
            except brace.CircuitOpenError:
                rejections[i] += 1
                continue
            if roll < 0.4:
                permit.failure(Boom())
            elif roll < 0.9:
                permit.success()
            else:
                permit.cancel()

    in_threads(4, body)
    # metrics() first: it may move OPEN -> HALF_OPEN, and the phase read below must be the last.
    assert breaker.metrics().rejected == sum(rejections)
    phase = breaker._machine.cell.phase
    if phase.state is State.HALF_OPEN:
        assert phase.admitted == phase.done  # no trial slot leaked
    changes = recorder.of(brace.StateChanged)
    assert len(changes) > 10  # the scenario really churned through the states
    pairs = Counter((State[e.old], State[e.new]) for e in changes)
    assert set(pairs) <= AUTOMATIC
    # Events may reach the listener out of order across threads, but every state entered
    # was left again, except the one the breaker ends in.
    for state in State:
        entered = sum(n for (_old, new), n in pairs.items() if new is state)
        left = sum(n for (old, _new), n in pairs.items() if old is state)
        expected = (state is phase.state) - (state is State.CLOSED)
        assert entered - left == expected, state


async def test_many_tasks_never_leak_half_open_slots_when_cancelled() -> None:
    clock = VirtualClock()
    breaker = brace.CircuitBreaker(
        "tasks", consecutive_failures=1, half_open_calls=2, open_for=1, clock=clock
    )
    breaker.acquire().failure()
    clock.advance(1)
    gate = asyncio.Event()
    inside = asyncio.Event()
    entered = 0

    @breaker
    async def trial() -> None:
        nonlocal entered
        entered += 1
        if entered == 2:
            inside.set()
        await gate.wait()

    tasks = [asyncio.create_task(trial()) for _ in range(6)]
    # Tasks run in creation order: two take the slots, the other four are rejected, all
    # before this coroutine resumes.
    await inside.wait()
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    kinds = Counter(type(r).__name__ for r in results)
    assert kinds == Counter({"CancelledError": 2, "CircuitOpenError": 4})
    phase = breaker._machine.cell.phase
    assert (phase.state, phase.admitted, phase.done) == (State.HALF_OPEN, 0, 0)
