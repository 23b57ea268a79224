"""Simulator speed: logical requests per wall-second, against a bare asyncio floor.

    .venv/bin/python benchmarks/simulator.py             # the default run, in this process
    .venv/bin/python benchmarks/simulator.py --cli       # also `brace simulate` end to end, --jobs 1 and 2
    .venv/bin/python benchmarks/simulator.py --queueing  # a long M/M/c check against Erlang C

The default run is `brace simulate` with no argument: the outage scenario and
every default strategy, one run each. Each figure is the best of ``--rounds``
rounds (other load on the machine only ever slows a round down). The floor is
the same number of requests as bare asyncio tasks on brace's virtual loop,
each with one timer and one `asyncio.timeout` (what every simulated attempt
needs at least); "x floor" says how many times that the simulator costs per
request, a ratio that does not depend on the machine's speed.

Target (issue 15): at least 30,000 logical requests per wall-second for the
default run in one process.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import subprocess
import sys
import time

import brace
from brace.sim import (
    Contention,
    Scenario,
    StrategyContext,
    load_scenario,
    run_contention,
    simulate,
)
from brace.sim._theory import MMc
from brace.testing import run


def _floor(requests: int, rate: float = 100.0) -> float:
    """Seconds for ``requests`` bare asyncio requests on the virtual loop (the floor)."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        rng = random.Random(1)
        live: set[asyncio.Task[None]] = set()

        async def request() -> None:
            done = loop.create_future()
            loop.call_at(loop.time() + 0.05, done.set_result, None)
            async with asyncio.timeout(0.5):
                await done
            live.discard(asyncio.current_task(loop))  # type: ignore[arg-type]

        def arrive(count: int) -> None:
            live.add(loop.create_task(request()))
            if count + 1 < requests:
                loop.call_later(rng.expovariate(rate), arrive, count + 1)

        arrive(0)
        while live or loop.time() < requests / rate:
            await asyncio.sleep(1)

    start = time.perf_counter()
    run(main())
    return time.perf_counter() - start


def default_run(rounds: int) -> None:
    scenario = load_scenario("outage")
    assert isinstance(scenario, Scenario)
    names = list(scenario.strategies)
    best: dict[str, float] = {}
    counts: dict[str, int] = {}
    whole = math.inf
    for _ in range(rounds):
        round_start = time.perf_counter()
        for name in names:
            start = time.perf_counter()
            result = simulate(scenario, [name])
            best[name] = min(best.get(name, math.inf), time.perf_counter() - start)
            counts[name] = result.strategies[name].logical_requests
        whole = min(whole, time.perf_counter() - round_start)
    total = sum(counts.values())
    floor = min(_floor(total) for _ in range(rounds))
    print(
        f"default run: {scenario.name}, {scenario.duration:g} simulated s, {len(names)} strategies"
    )
    print(f"{'strategy':12} {'requests':>9} {'wall s':>7} {'requests/s':>11} {'x floor':>8}")
    for name in names:
        per = best[name] / counts[name]
        print(
            f"{name:12} {counts[name]:9d} {best[name]:7.2f} {counts[name] / best[name]:11,.0f}"
            f" {per / (floor / total):8.1f}"
        )
    print(
        f"{'all':12} {total:9d} {whole:7.2f} {total / whole:11,.0f} {whole / floor:8.1f}"
        "   <- logical requests per wall-second, one process"
    )
    print(f"{'floor':12} {total:9d} {floor:7.2f} {total / floor:11,.0f} {1:8.1f}")


def cli(rounds: int) -> None:
    for jobs in (1, 2):
        command = [sys.executable, "-m", "brace", "simulate", "--quiet", "--jobs", str(jobs)]
        best = math.inf
        for _ in range(rounds):
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            best = min(best, time.perf_counter() - start)
        print(
            f"`brace simulate --jobs {jobs}` (whole command, start-up included): {best:.2f} s wall"
        )


def _passthrough(ctx: StrategyContext) -> brace.Policy:
    return brace.Timeout(1e6)


def queueing() -> None:
    theory = MMc(servers=10, lam=160.0, mu=20.0)
    start = time.perf_counter()
    result = simulate(theory.scenario(duration=600), [_passthrough], runs=10).strategies[
        "_passthrough"
    ]
    wait = result.mean_queue_wait or 0.0
    print(
        f"M/M/{theory.servers}, utilisation {theory.lam / theory.mu / theory.servers:.0%}, "
        f"{result.logical_requests:,} requests, {time.perf_counter() - start:.1f} s wall:"
    )
    print(
        f"  mean wait {wait * 1000:.3f} ms, Erlang C {theory.mean_wait * 1000:.3f} ms "
        f"({wait / theory.mean_wait - 1:+.2%})"
    )
    for q, got in (
        (0.5, result.latency_p50),
        (0.95, result.latency_p95),
        (0.99, result.latency_p99),
    ):
        want = theory.response_quantile(q)
        print(f"  response p{q * 100:g} {(got or 0) * 1000:.2f} ms, theory {want * 1000:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3, help="best of this many rounds")
    parser.add_argument("--cli", action="store_true", help="also time the whole command")
    parser.add_argument("--queueing", action="store_true", help="a long M/M/c check")
    args = parser.parse_args()
    default_run(args.rounds)
    contention = load_scenario("contention")
    assert isinstance(contention, Contention)
    start = time.perf_counter()
    run_contention(contention, runs=100)
    print(f"contention sweep, 100 runs per point: {time.perf_counter() - start:.2f} s wall")
    if args.cli:
        cli(args.rounds)
    if args.queueing:
        queueing()


if __name__ == "__main__":
    main()
