"""Timing harness for benchmarks/overhead.py: interleaved rounds, medians, ratios.

A case is a zero-argument callable (sync) or coroutine function (async) that
performs one logical call, exceptions caught inside where the scenario raises.
Every case runs ``number`` times per round; rounds are interleaved across all
cases so drift (thermal, other load) hits every row alike; the reported figure
is the median over rounds, in nanoseconds per call.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

BARE = "bare call"
FLOOR = "trivial decorator"


@dataclass
class Case:
    group: str  # table section, e.g. "core", "breaker", "retry"
    label: str  # unique within (group, mode)
    op: Callable[[], object] | Callable[[], Awaitable[object]]
    mode: str = "sync"  # "sync" or "async"
    ref: str | None = None  # label of another case (any group, same mode) to compare against
    number: int | None = None  # calls per round; default from the runner
    samples: list[float] = field(default_factory=list)


def _time_sync(op: Callable[[], object], number: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(number):
        op()
    return (time.perf_counter_ns() - start) / number


async def _time_async(op: Callable[[], Awaitable[object]], number: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(number):
        await op()
    return (time.perf_counter_ns() - start) / number


def run(cases: list[Case], *, rounds: int, number: int) -> None:
    loop = asyncio.new_event_loop()
    try:
        for case in cases:  # warm up: caches, lazily built state, JIT-free but import-y paths
            n = max(1, (case.number or number) // 10)
            if case.mode == "sync":
                _time_sync(case.op, n)
            else:
                loop.run_until_complete(_time_async(case.op, n))  # type: ignore[arg-type]
        gc.collect()
        gc.disable()
        try:
            for _ in range(rounds):
                for case in cases:
                    n = case.number or number
                    if case.mode == "sync":
                        case.samples.append(_time_sync(case.op, n))
                    else:
                        case.samples.append(loop.run_until_complete(_time_async(case.op, n)))  # type: ignore[arg-type]
        finally:
            gc.enable()
    finally:
        loop.close()


def median(case: Case) -> float:
    return statistics.median(case.samples)


def table(cases: list[Case]) -> str:
    by_key = {(c.mode, c.label): c for c in cases}
    lines = []
    header = (
        f"{'mode':5} {'group':9} {'case':52} {'ns/call':>9} {'x bare':>7} {'x floor':>7}  vs ref"
    )
    lines.append(header)
    lines.append("-" * len(header))
    for mode in ("sync", "async"):
        bare = by_key.get((mode, BARE))
        floor = by_key.get((mode, FLOOR))
        for case in (c for c in cases if c.mode == mode):
            ns = median(case)
            xb = f"{ns / median(bare):7.2f}" if bare else "      -"
            xf = f"{ns / median(floor):7.2f}" if floor else "      -"
            ref = ""
            if case.ref is not None:
                other = by_key.get((mode, case.ref))
                if other is not None:
                    ref = f"{ns / median(other):5.2f}x {case.ref}"
            lines.append(f"{mode:5} {case.group:9} {case.label:52} {ns:9.0f} {xb} {xf}  {ref}")
        lines.append("")
    return "\n".join(lines)
