"""The virtual-time event loop: asyncio timers and brace's clock on one timeline."""

from __future__ import annotations

import asyncio
import concurrent.futures
import random
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

import brace
from brace.testing import VirtualClock, VirtualEventLoop, run

# The loop's own timers are what these tests pin, so they call asyncio's sleep directly.
sleep = asyncio.sleep  # noqa: TID251

T = TypeVar("T")


def _work_for_real(seconds: float, value: T) -> T:
    # Thread work that takes real time, which the virtual clock knows nothing about.
    threading.Event().wait(seconds)
    return value


def _run_or_fail_after(seconds: float, main: Coroutine[Any, Any, T], clock: VirtualClock) -> T:
    # run(), on a thread, failing instead of hanging if the loop holds virtual time forever.
    result: list[T] = []
    runner = threading.Thread(target=lambda: result.append(run(main, clock)), daemon=True)
    runner.start()
    runner.join(seconds)
    assert not runner.is_alive(), "the loop never let virtual time move on"
    return result[0]


def test_asyncio_sleep_moves_virtual_time_exactly_and_takes_no_real_time() -> None:
    clock = VirtualClock()

    async def main() -> float:
        await sleep(3600.0)
        await sleep(0.1)
        await sleep(0.2)
        return asyncio.get_running_loop().time()

    assert pytest.approx(run(main(), clock)) == 3600.3
    assert clock.monotonic() == 3600.0 + 0.1 + 0.2


def test_loop_time_is_the_clock_time_from_a_given_start() -> None:
    clock = VirtualClock(start=100.0)

    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        before = loop.time()
        await sleep(5)
        return before, loop.time()

    assert run(main(), clock) == (100.0, 105.0)


def test_asyncio_timeout_fires_at_its_virtual_deadline() -> None:
    clock = VirtualClock()

    async def main() -> None:
        async with asyncio.timeout(2.0):
            await sleep(10.0)

    with pytest.raises(TimeoutError):
        run(main(), clock)
    assert clock.monotonic() == 2.0


def test_wait_for_times_out_in_virtual_time() -> None:
    clock = VirtualClock()

    async def main() -> str:
        try:
            await asyncio.wait_for(sleep(60.0), timeout=0.5)
        except TimeoutError:
            return f"timed out at {clock.monotonic()}"
        return "finished"

    assert run(main(), clock) == "timed out at 0.5"


def test_clock_asleep_on_the_virtual_loop_lets_concurrent_tasks_share_one_timeline() -> None:
    clock = VirtualClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.asleep(seconds)
        woke.append((name, clock.monotonic()))

    async def main() -> None:
        await asyncio.gather(sleeper("c", 3.0), sleeper("a", 1.0), sleeper("b", 2.0))

    run(main(), clock)
    # Sequential jumping would end at 6 s; sharing a timeline ends at the longest sleep.
    assert woke == [("a", 1.0), ("b", 2.0), ("c", 3.0)]
    assert clock.sleeps == [3.0, 1.0, 2.0]


def test_asyncio_sleep_and_clock_asleep_interleave_by_time() -> None:
    clock = VirtualClock()
    order: list[str] = []

    async def via_asyncio() -> None:
        await sleep(1.5)
        order.append("asyncio@1.5")

    async def via_clock() -> None:
        await clock.asleep(1.0)
        order.append("clock@1.0")
        await clock.asleep(1.0)
        order.append("clock@2.0")

    async def main() -> None:
        await asyncio.gather(via_asyncio(), via_clock())

    run(main(), clock)
    assert order == ["clock@1.0", "asyncio@1.5", "clock@2.0"]


def test_brace_deadline_on_the_clock_sees_loop_sleeps() -> None:
    clock = VirtualClock()

    async def main() -> float | None:
        with brace.deadline(1.0, clock=clock):
            await sleep(0.25)
            return brace.remaining()

    assert run(main(), clock) == 0.75


def test_a_cancelled_clock_sleep_does_not_move_time_past_the_cancel() -> None:
    clock = VirtualClock()

    async def main() -> None:
        async with asyncio.timeout(1.0):
            await clock.asleep(30.0)

    with pytest.raises(TimeoutError):
        run(main(), clock)
    assert clock.monotonic() == 1.0


def test_clock_asleep_still_jumps_on_an_ordinary_event_loop() -> None:
    clock = VirtualClock()

    async def main() -> None:
        await clock.asleep(42.0)

    asyncio.run(main())
    assert clock.monotonic() == 42.0


def test_a_clock_advanced_by_hand_fires_the_timers_now_due() -> None:
    clock = VirtualClock()

    async def main() -> float:
        loop = asyncio.get_running_loop()
        fired = loop.create_future()
        loop.call_later(10.0, fired.set_result, "timer")
        clock.advance(10.0)
        await fired
        return loop.time()

    assert run(main(), clock) == 10.0


def test_work_from_another_thread_wakes_an_idle_virtual_loop() -> None:
    clock = VirtualClock()
    started = threading.Event()

    def work() -> str:
        started.set()
        return "from a thread"

    async def main() -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, work)

    assert run(main(), clock) == "from a thread"
    assert started.is_set()
    assert clock.monotonic() == 0.0


def test_a_short_timeout_around_to_thread_work_taking_real_time_does_not_fire() -> None:
    clock = VirtualClock()

    async def main() -> str:
        async with asyncio.timeout(0.01):
            return await asyncio.to_thread(_work_for_real, 0.1, "done")

    assert run(main(), clock) == "done"
    assert clock.monotonic() == 0.0


def test_timers_wait_while_a_thread_works_and_fire_after_it_reports_back() -> None:
    clock = VirtualClock()
    order: list[tuple[str, float]] = []

    async def sleeper() -> None:
        await sleep(1.0)
        order.append(("timer", clock.monotonic()))

    async def worker() -> None:
        await asyncio.to_thread(_work_for_real, 0.05, None)
        order.append(("thread", clock.monotonic()))

    async def main() -> None:
        await asyncio.gather(sleeper(), worker())

    run(main(), clock)
    assert order == [("thread", 0.0), ("timer", 1.0)]


def test_run_in_executor_on_an_executor_of_ones_own_holds_virtual_time() -> None:
    clock = VirtualClock()

    async def main() -> str:
        loop = asyncio.get_running_loop()
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            async with asyncio.timeout(0.01):
                return await loop.run_in_executor(pool, _work_for_real, 0.05, "pool")

    assert run(main(), clock) == "pool"
    assert clock.monotonic() == 0.0


def test_a_thread_whose_awaiter_was_cancelled_still_holds_time_until_it_finishes() -> None:
    clock = VirtualClock()
    started, finished = threading.Event(), threading.Event()

    def work() -> None:
        started.set()
        _work_for_real(0.05, None)
        finished.set()

    async def main() -> tuple[bool, float]:
        abandoned = asyncio.ensure_future(asyncio.to_thread(work))
        await asyncio.to_thread(started.wait, 5.0)
        abandoned.cancel()
        await sleep(1.0)
        return finished.is_set(), clock.monotonic()

    assert _run_or_fail_after(10.0, main(), clock) == (True, 1.0)


def test_work_cancelled_before_its_thread_started_releases_the_clock() -> None:
    clock = VirtualClock()
    gate = threading.Event()

    async def main() -> float:
        loop = asyncio.get_running_loop()
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            busy = loop.run_in_executor(pool, gate.wait, 5.0)
            queued = loop.run_in_executor(pool, _work_for_real, 0.0, None)
            queued.cancel()  # still queued behind `busy`: it never runs
            await sleep(0)
            gate.set()
            await busy
        await sleep(1.0)
        return clock.monotonic()

    assert _run_or_fail_after(10.0, main(), clock) == 1.0


def test_thread_work_that_raises_releases_the_clock() -> None:
    clock = VirtualClock()

    def fail() -> None:
        raise LookupError("from a thread")

    async def main() -> float:
        with pytest.raises(LookupError, match="from a thread"):
            await asyncio.to_thread(fail)
        await sleep(1.0)
        return clock.monotonic()

    assert _run_or_fail_after(10.0, main(), clock) == 1.0


def test_shutting_the_default_executor_down_takes_no_virtual_time() -> None:
    clock = VirtualClock()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        await asyncio.to_thread(_work_for_real, 0.0, None)
        async with asyncio.timeout(0.01):
            await loop.shutdown_default_executor()

    run(main(), clock)
    assert clock.monotonic() == 0.0


def test_a_callback_from_a_thread_of_ones_own_wakes_an_idle_virtual_loop() -> None:
    async def main() -> str:
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[str] = loop.create_future()
        thread = threading.Thread(target=loop.call_soon_threadsafe, args=(reply.set_result, "hi"))
        thread.start()
        try:
            return await reply
        finally:
            thread.join()

    assert run(main()) == "hi"


def test_run_propagates_the_coroutine_exception() -> None:
    async def main() -> None:
        await sleep(1)
        raise LookupError("boom")

    with pytest.raises(LookupError, match="boom"):
        run(main())


def test_the_loop_can_be_used_as_a_runner_loop_factory() -> None:
    async def main() -> float:
        await sleep(7)
        return asyncio.get_running_loop().time()

    with asyncio.Runner(loop_factory=VirtualEventLoop) as runner:
        assert runner.run(main()) == 7.0


def _random_workload(seed: int) -> list[tuple[float, int]]:
    clock = VirtualClock()
    rng = random.Random(seed)
    trace: list[tuple[float, int]] = []

    async def worker(ident: int) -> None:
        for _ in range(5):
            if rng.random() < 0.5:
                await sleep(rng.expovariate(10.0))
            else:
                await clock.asleep(rng.expovariate(10.0))
            trace.append((clock.monotonic(), ident))

    async def main() -> None:
        await asyncio.gather(*(worker(i) for i in range(200)))

    run(main(), clock)
    return trace


def test_same_seed_same_trace_to_the_last_digit() -> None:
    first = _random_workload(7)
    assert first == _random_workload(7)
    assert first != _random_workload(8)
    assert [t for t, _ in first] == sorted(t for t, _ in first)


def test_thousands_of_concurrent_sleepers_finish_at_the_longest_sleep() -> None:
    clock = VirtualClock()

    async def main() -> None:
        await asyncio.gather(*(clock.asleep(i / 1000) for i in range(1, 5001)))

    run(main(), clock)
    assert clock.monotonic() == 5.0


def test_mass_cancelled_timers_are_purged_and_the_rest_fire_exactly_once() -> None:
    fired: list[int] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        handles = [loop.call_later(1 + i / 100, fired.append, i) for i in range(600)]
        for i, handle in enumerate(handles):
            if i % 5:
                handle.cancel()  # 480 of 600 cancelled: the heap is rebuilt
        await sleep(0)
        await sleep(10)

    run(main())
    assert fired == list(range(0, 600, 5))


def test_lean_handles_behave_like_asyncio_s_and_debug_mode_keeps_asyncio_s_own() -> None:
    seen: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        soon = loop.call_soon(seen.append, "soon")
        later = loop.call_later(1, seen.append, "later")
        dropped = loop.call_later(2, seen.append, "dropped")
        assert isinstance(soon, asyncio.Handle)
        assert isinstance(later, asyncio.TimerHandle)
        assert later.when() == 1
        assert "append" in repr(soon)
        dropped.cancel()
        dropped.cancel()  # twice: counted once
        assert dropped.cancelled()
        assert loop._timer_cancelled_count == 1  # type: ignore[attr-defined]
        await sleep(3)
        loop.set_debug(True)
        debug = loop.call_soon(seen.append, "debug")
        assert type(debug) is asyncio.Handle
        await sleep(0)
        loop.set_debug(False)

    run(main())
    assert seen == ["soon", "later", "debug"]
