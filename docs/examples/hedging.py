"""Hedged requests cut tail latency: 200 calls to a backend where 1 in 20 answers is slow.

Each attempt takes 2 ms, except one in twenty, which takes 250 ms (a GC
pause, a cold cache, a noisy neighbour). Without hedging, that one in
twenty sets the p99. With a hedge after 20 ms, a slow first attempt is
overtaken by a second one, which is slow only one time in twenty too.

It runs in virtual time (`brace.testing.run`): the latencies are the
modelled ones, the same on every machine, and it takes no real time.
"""

from __future__ import annotations

import asyncio
import random
import statistics
from collections.abc import Awaitable, Callable

import brace
from brace.testing import VirtualClock, run

clock = VirtualClock()  # asyncio.sleep, the hedge's timer and the clock share one timeline
rng = random.Random(42)  # a seed keeps the example reproducible
attempts = {"count": 0}


async def backend(key: str) -> str:
    """One attempt: usually fast, sometimes stuck in the tail."""
    attempts["count"] += 1
    await asyncio.sleep(0.25 if rng.random() < 0.05 else 0.002)
    return f"value of {key}"


hedged = brace.Hedge(delay=0.02, max_extra=1, clock=clock)(backend)


async def timed(call: Callable[[str], Awaitable[str]], key: str) -> float:
    start = clock.monotonic()
    await call(key)
    return clock.monotonic() - start


async def measure(call: Callable[[str], Awaitable[str]]) -> tuple[float, float, int]:
    attempts["count"] = 0
    latencies = await asyncio.gather(*(timed(call, f"k{n}") for n in range(200)))
    cuts = statistics.quantiles(latencies, n=100)
    return cuts[49], cuts[98], attempts["count"]


async def compare() -> None:
    for label, call in (("plain", backend), ("hedged", hedged)):
        p50, p99, sent = await measure(call)
        print(f"{label:7} p50 {p50 * 1000:6.1f} ms   p99 {p99 * 1000:6.1f} ms   attempts {sent}")


def main() -> None:
    run(compare(), clock)


if __name__ == "__main__":
    main()
