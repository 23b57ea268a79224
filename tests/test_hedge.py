"""Hedge: extra attempts after a delay, first success wins, nothing left running, bad input.

Hedge delays are loop timers. On a real loop the tests keep them to tens of
milliseconds and synchronise attempts with asyncio events, never sleeps; on
`brace.testing.run`'s virtual-time loop, attempts sleep in virtual time
through the clock the Hedge also reads, and the tests pin exact instants.
"""

from __future__ import annotations

import asyncio
import runpy
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

import brace
from brace._hedge import _Delays
from brace.testing import EventRecorder, VirtualClock, run

DOCS = Path(__file__).resolve().parent.parent / "docs" / "examples"

Attempt = Callable[[int], Coroutine[Any, Any, str]]


class Attempts:
    """Scripted attempts: attempt n runs ``script[n]``; records starts, ends and cancellations."""

    def __init__(self, *script: Attempt) -> None:
        self.script = script
        self.started: list[int] = []
        self.finished: list[int] = []
        self.cancelled: list[int] = []

    async def __call__(self, arg: str) -> str:
        n = len(self.started)
        self.started.append(n)
        try:
            return await self.script[n](n)
        except asyncio.CancelledError:
            self.cancelled.append(n)
            raise
        finally:
            self.finished.append(n)


async def hang(n: int) -> str:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def succeed(n: int) -> str:
    return f"attempt {n}"


async def fail(n: int) -> str:
    raise ConnectionError(f"attempt {n} failed")


def elapsed_since(start: float) -> float:
    return asyncio.get_running_loop().time() - start


async def test_a_fast_success_starts_no_extra_attempt() -> None:
    attempts = Attempts(succeed, succeed)
    assert await brace.Hedge(delay=0.01)(attempts)("x") == "attempt 0"
    assert attempts.started == [0]


async def test_when_the_first_attempt_hangs_a_second_starts_after_the_delay_and_wins() -> None:
    attempts = Attempts(hang, succeed)
    start = asyncio.get_running_loop().time()
    assert await brace.Hedge(delay=0.02)(attempts)("x") == "attempt 1"
    assert elapsed_since(start) >= 0.02
    assert attempts.started == [0, 1]
    # The loser was cancelled and had finished before the call returned.
    assert attempts.cancelled == [0]
    assert sorted(attempts.finished) == [0, 1]


async def test_a_fast_failure_starts_the_next_attempt_at_once() -> None:
    attempts = Attempts(fail, succeed)
    start = asyncio.get_running_loop().time()
    assert await brace.Hedge(delay=30.0)(attempts)("x") == "attempt 1"
    assert elapsed_since(start) < 5.0  # far below the 30 s delay: no waiting happened
    assert attempts.started == [0, 1]


async def test_a_failure_while_others_run_starts_the_next_without_waiting() -> None:
    first_may_fail = asyncio.Event()

    async def fail_when_told(n: int) -> str:
        await first_may_fail.wait()
        raise ConnectionError("late failure")

    async def release_first_then_hang(n: int) -> str:
        first_may_fail.set()
        return await hang(n)

    attempts = Attempts(fail_when_told, release_first_then_hang, succeed)
    hedge = brace.Hedge(delay=0.02, max_extra=2)
    assert await hedge(attempts)("x") == "attempt 2"
    assert attempts.cancelled == [1]


async def test_when_every_attempt_fails_the_last_failure_is_raised_with_a_note() -> None:
    attempts = Attempts(fail, fail, fail)
    with pytest.raises(ConnectionError, match="attempt 2 failed") as info:
        await brace.Hedge(delay=0.01, max_extra=2)(attempts)("x")
    assert info.value.__notes__ == ["hedge 'hedge': all 3 attempts failed; this is the last"]
    assert attempts.started == [0, 1, 2]


async def test_with_zero_delay_every_attempt_starts_together() -> None:
    both_started = asyncio.Event()

    async def wait_for_peer(n: int) -> str:
        if n == 1:
            both_started.set()
            return await hang(n)
        await both_started.wait()
        return "first, after the second started"

    attempts = Attempts(wait_for_peer, wait_for_peer)
    assert await brace.Hedge(delay=0)(attempts)("x") == "first, after the second started"
    assert attempts.cancelled == [1]


async def test_a_cancelled_caller_cancels_and_awaits_every_attempt() -> None:
    all_started = asyncio.Event()

    async def hang_and_count(n: int) -> str:
        if n == 2:
            all_started.set()
        return await hang(n)

    attempts = Attempts(hang_and_count, hang_and_count, hang_and_count)
    call = asyncio.create_task(brace.Hedge(delay=0, max_extra=2)(attempts)("x"))
    await all_started.wait()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert sorted(attempts.cancelled) == [0, 1, 2]
    assert sorted(attempts.finished) == [0, 1, 2]
    assert {asyncio.current_task()} == asyncio.all_tasks()


async def test_a_refusing_budget_keeps_the_call_to_one_attempt(recorder: EventRecorder) -> None:
    release = asyncio.Event()

    async def slow(n: int) -> str:
        await release.wait()
        return f"attempt {n}"

    budget = brace.RetryBudget(ratio=0.0, min_per_second=0, clock=VirtualClock())
    attempts = Attempts(slow, succeed)
    call = asyncio.create_task(brace.Hedge(delay=0, budget=budget)(attempts)("x"))
    while not recorder.of(brace.BudgetExhausted):
        await asyncio.wait([call], timeout=0.005)
    release.set()
    assert await call == "attempt 0"
    assert attempts.started == [0]
    assert [brace.BudgetExhausted("hedge", 1)] == recorder.of(brace.BudgetExhausted)


class CountingBudget:
    """The duck-typed budget contract: deposit() per call, try_withdraw() per extra attempt."""

    def __init__(self, tokens: int) -> None:
        self.tokens = tokens
        self.deposits = 0

    def deposit(self) -> None:
        self.deposits += 1

    def try_withdraw(self) -> bool:
        if self.tokens <= 0:
            return False
        self.tokens -= 1
        return True


async def test_every_extra_attempt_draws_a_token_and_every_call_deposits() -> None:
    budget = CountingBudget(tokens=1)
    attempts = Attempts(fail, fail, succeed)
    with pytest.raises(ConnectionError, match="attempt 1 failed"):
        await brace.Hedge(delay=0.01, max_extra=2, budget=budget)(attempts)("x")
    assert (budget.deposits, budget.tokens) == (1, 0)
    assert attempts.started == [0, 1]


async def test_a_real_retry_budget_allows_hedges_in_proportion_to_traffic() -> None:
    budget = brace.RetryBudget(ratio=1.0, min_per_second=0, clock=VirtualClock())
    attempts = Attempts(fail, succeed)
    assert await brace.Hedge(delay=1.0, budget=budget)(attempts)("x") == "attempt 1"


async def test_the_deadline_is_checked_on_entry() -> None:
    clock = VirtualClock()
    attempts = Attempts(succeed)
    with brace.deadline(1, clock=clock):
        clock.advance(2)
        with pytest.raises(brace.TimeoutExceededError):
            await brace.Hedge(delay=0.01)(attempts)("x")
    assert attempts.started == []


async def test_a_percentile_delay_follows_observed_latency_on_the_policy_clock() -> None:
    clock = VirtualClock()

    async def takes_5ms(arg: str) -> str:
        clock.advance(0.005)
        return arg

    hedge = brace.Hedge(delay="p95", min_samples=4, initial_delay=2.0, clock=clock)
    call = hedge(takes_5ms)
    for _ in range(3):
        await call("x")
    assert hedge.delay == 2.0
    await call("x")
    assert pytest.approx(hedge.delay) == 0.005


class Timeline:
    """Attempts that take scripted virtual seconds; records when each started, on ``clock``."""

    def __init__(self, clock: VirtualClock, *durations: float | Exception) -> None:
        self.clock = clock
        self.durations = durations
        self.starts: list[float] = []
        self.cancelled: list[int] = []

    async def __call__(self, arg: str) -> str:
        n = len(self.starts)
        self.starts.append(self.clock.monotonic())
        outcome = self.durations[n]
        if isinstance(outcome, Exception):
            raise outcome
        try:
            await self.clock.asleep(outcome)
        except asyncio.CancelledError:
            self.cancelled.append(n)
            raise
        return f"attempt {n} at {self.clock.monotonic():g}"


def test_on_virtual_time_the_hedge_starts_at_the_exact_delay(recorder: EventRecorder) -> None:
    clock = VirtualClock()
    attempts = Timeline(clock, 10.0, 0.1)
    hedge = brace.Hedge(delay=0.25, clock=clock)
    assert run(hedge(attempts)("x"), clock) == "attempt 1 at 0.35"
    assert attempts.starts == [0.0, 0.25]
    assert attempts.cancelled == [0]
    # The loser was cancelled at once: the clock never ran on to its 10 s.
    assert clock.monotonic() == 0.35
    assert [brace.HedgeStarted("hedge", 2, 0.25)] == recorder.of(brace.HedgeStarted)


def test_on_virtual_time_a_failure_hedges_at_once_and_restarts_the_delay() -> None:
    clock = VirtualClock()
    # Attempt 0 fails at once, so attempt 1 starts at t=0 and hangs; attempt 2 starts one
    # full delay later, and wins.
    attempts = Timeline(clock, ConnectionError("fast"), 30.0, 0.2)
    hedge = brace.Hedge(delay=0.5, max_extra=2, clock=clock)
    assert run(hedge(attempts)("x"), clock) == "attempt 2 at 0.7"
    assert attempts.starts == [0.0, 0.0, 0.5]
    assert attempts.cancelled == [1]


def test_on_virtual_time_a_percentile_delay_hedges_at_the_observed_percentile() -> None:
    clock = VirtualClock()
    hedge = brace.Hedge(delay="p50", min_samples=4, initial_delay=5.0, clock=clock)

    async def scenario() -> Timeline:
        for seconds in (0.4, 0.1, 0.3, 0.2):
            await hedge(Timeline(clock, seconds))("x")
        assert pytest.approx(0.2) == hedge.delay  # nearest rank: 2nd of 4 sorted samples
        slow = Timeline(clock, 10.0, 0.05)
        start = clock.monotonic()
        await hedge(slow)("x")
        slow.starts = [at - start for at in slow.starts]
        return slow

    slow = run(scenario(), clock)
    assert [0.0, pytest.approx(0.2)] == slow.starts
    assert slow.cancelled == [0]


def test_the_percentile_is_nearest_rank_over_a_bounded_window() -> None:
    delays = _Delays(None, 0.9, window=10, min_samples=10, initial=1.0)
    for ms in range(1, 11):
        delays.record(ms / 1000)
    assert pytest.approx(delays.current()) == 0.009
    for _ in range(16):  # the old samples slide out of the 10-sample window
        delays.record(0.5)
    assert delays.current() == 0.5


def test_a_fixed_delay_ignores_samples() -> None:
    delays = _Delays(0.25, None, window=10, min_samples=1, initial=1.0)
    delays.record(9.0)
    assert delays.current() == 0.25


def test_decorating_a_sync_function_raises_type_error_naming_asyncio() -> None:
    def sync() -> str:
        return "x"

    with pytest.raises(TypeError, match="asyncio"):
        brace.Hedge(delay=0.1)(sync)
    with pytest.raises(TypeError, match="asyncio"):
        brace.pipeline(brace.Hedge(delay=0.1))(sync)
    with pytest.raises(TypeError, match="asyncio"):
        brace.Hedge(delay=0.1).call(sync)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"delay": -0.1}, "delay=-0.1 is out of range"),
        ({"delay": "p100"}, "delay='p100' is not allowed"),
        ({"delay": "p0"}, "delay='p0' is not allowed"),
        ({"delay": "fast"}, "delay='fast' is not allowed"),
        ({"delay": 0.1, "max_extra": 0}, "max_extra=0 is out of range"),
        ({"delay": 0.1, "min_samples": 0}, "min_samples=0 is out of range"),
        ({"delay": "p99", "min_samples": 50, "window": 10}, "window=10 is out of range"),
        ({"delay": "p99", "initial_delay": -1}, "initial_delay=-1 is out of range"),
        ({"delay": 0.1, "budget": object()}, "budget=.* is not allowed"),
    ],
)
def test_bad_configuration_raises_config_error(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(brace.ConfigError, match=message):
        brace.Hedge(**kwargs)


def test_repr_shows_the_delay_as_given() -> None:
    assert (
        repr(brace.Hedge(delay="p99", max_extra=2))
        == "brace.Hedge('hedge', delay='p99', max_extra=2)"
    )


def test_the_hedging_guide_example_runs() -> None:
    runpy.run_path(str(DOCS / "hedging.py"), run_name="__main__")


async def test_a_caller_cancelled_again_during_cleanup_still_waits_for_every_attempt() -> None:
    # asyncio.TaskGroup's rule: however often the caller is cancelled, the attempts are all
    # cancelled and awaited before the cancellation propagates.
    all_started = asyncio.Event()
    unwinding: list[asyncio.Event] = []

    async def stubborn(n: int) -> str:
        if n == 2:
            all_started.set()
        try:
            return await hang(n)
        finally:
            done = asyncio.Event()
            unwinding.append(done)
            await done.wait()  # takes its time to unwind, as a connection close would

    attempts = Attempts(stubborn, stubborn, stubborn)
    call = asyncio.create_task(brace.Hedge(delay=0, max_extra=2)(attempts)("x"))
    await all_started.wait()
    call.cancel()
    while len(unwinding) < 3:
        await asyncio.wait([call], timeout=0.001)
    call.cancel()  # again, while the attempts are unwinding
    await asyncio.wait([call], timeout=0.01)
    assert not call.done()  # still waiting for the attempts
    for done in unwinding:
        done.set()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert sorted(attempts.finished) == [0, 1, 2]
    assert {asyncio.current_task()} == asyncio.all_tasks()
