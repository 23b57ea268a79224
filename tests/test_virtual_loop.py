"""The virtual-time event loop: asyncio timers and brace's clock on one timeline."""

from __future__ import annotations

import asyncio
import random
import threading

import pytest

import brace
from brace.testing import VirtualClock, VirtualEventLoop, run

# The loop's own timers are what these tests pin, so they call asyncio's sleep directly.
sleep = asyncio.sleep  # noqa: TID251


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
