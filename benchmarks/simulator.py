"""Simulator speed: logical requests per wall-second and simulated seconds per wall-second.

    .venv/bin/python benchmarks/simulator.py           # the outage scenario, every strategy
    .venv/bin/python benchmarks/simulator.py --quick   # a 60 s cut of it
    .venv/bin/python benchmarks/simulator.py --cli     # also time `python -m brace simulate`

Targets (issue 7): the default `brace simulate` under 20 s wall on 2 cores;
at least 20,000 logical requests per wall-second through the `brace` strategy.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import time

from brace.sim import BUILTIN, Contention, load_scenario, run_contention, simulate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="60 simulated seconds, not 180")
    parser.add_argument("--cli", action="store_true", help="also time the whole default command")
    args = parser.parse_args()
    scenario = load_scenario("outage")
    assert not isinstance(scenario, Contention)
    if args.quick:
        scenario = dataclasses.replace(scenario, duration=60.0)
    rows = []
    for name in BUILTIN:
        simulate(scenario, [name], seed=99) if args.quick else None  # warm-up in quick mode only
        start = time.perf_counter()
        result = simulate(scenario, [name])
        wall = time.perf_counter() - start
        r = result.strategies[name]
        rows.append(
            (
                name,
                r.logical_requests,
                r.attempts,
                wall,
                r.logical_requests / wall,
                scenario.duration / wall,
            )
        )
    print(f"simulator: {scenario.name}, {scenario.duration:g} simulated s, one run per strategy")
    print(
        f"{'strategy':12} {'requests':>9} {'attempts':>9} {'wall s':>7} {'requests/s':>11} {'sim-s/wall-s':>13}"
    )
    for name, requests, attempts, wall, rps, speed in rows:
        print(f"{name:12} {requests:9d} {attempts:9d} {wall:7.2f} {rps:11,.0f} {speed:13.1f}")
    total = sum(r[3] for r in rows)
    print(f"{'all five':12} {sum(r[1] for r in rows):9d} {sum(r[2] for r in rows):9d} {total:7.2f}")
    contention = load_scenario("contention")
    assert isinstance(contention, Contention)
    start = time.perf_counter()
    runs = 10 if args.quick else 100
    run_contention(contention, runs=runs)
    print(f"contention sweep, {runs} runs per point: {time.perf_counter() - start:.2f} s wall")
    if args.cli:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "brace", "simulate", "--quiet"], check=True, capture_output=True
        )
        print(
            f"`python -m brace simulate` (default, all strategies): {time.perf_counter() - start:.2f} s wall"
        )


if __name__ == "__main__":
    main()
