"""Brooker's optimistic-concurrency experiment, with brace's own backoff schedules.

From Marc Brooker, "Exponential Backoff And Jitter" (AWS Architecture Blog,
2015): N clients each update one row exactly once. A client reads the row's
version (one network delay to the server, one back), then writes with that
version (one delay each way). The server accepts a write only if the
version is unchanged, and counts every write as a call. After a rejected
write the client waits one network delay plus ``backoff(n)`` (n = 1 for its
first retry) and reads again. Every delay is ``|normal(mean, sd)|``. A run
ends when every client has written; its time is that of the last response.

This is a plain discrete-event simulation (a heap of server events): the
only thing that happens at a client is waiting, so a read is folded into
the write it leads to. The backoff waits come from `brace.Backoff`
schedules: exponential ``min(cap, base * 2**n)`` is ``Backoff.exponential(
initial=2 * base, max_delay=cap)`` with jitter None, "equal" or "full";
decorrelated is ``Backoff.exponential(initial=base, max_delay=cap,
jitter="decorrelated")``; none is ``Backoff.constant(0)``.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass

from brace._backoff import Backoff
from brace.sim._scenario import Contention

__all__ = ["ContentionPoint", "ContentionResult", "backoff_for", "run_contention"]


@dataclass(frozen=True, slots=True)
class ContentionPoint:
    """Mean server write calls and completion time for one client count and variant."""

    clients: int
    strategy: str
    calls: float
    completion_seconds: float


@dataclass(frozen=True, slots=True)
class ContentionResult:
    """The whole sweep of a `Contention` scenario."""

    scenario: Contention
    seed: int
    runs: int
    sweep: tuple[ContentionPoint, ...]


def backoff_for(variant: str, base: float, cap: float) -> Backoff:
    """The brace `Backoff` schedule for one of Brooker's variants."""
    if variant == "none":
        return Backoff.constant(0)
    if variant == "decorrelated":
        return Backoff.exponential(initial=base, max_delay=cap, jitter="decorrelated")
    jitter = {"exponential": None, "equal": "equal", "full": "full"}[variant]
    return Backoff.exponential(initial=2 * base, multiplier=2.0, max_delay=cap, jitter=jitter)  # type: ignore[arg-type]


def occ_run(
    clients: int, schedule: Backoff, rng: random.Random, mean: float, sd: float
) -> tuple[int, float]:
    """One run: ``(write calls at the server, seconds until the last client has written)``."""
    normal = rng.normalvariate
    waits = [schedule.delays(rng) for _ in range(clients)]
    seen = [0] * clients
    # Events are (time, sequence, client); client >= 0 is a read arriving at the server,
    # ~client (< 0) a write. The sequence number keeps equal times in a fixed order.
    heap = [(abs(normal(mean, sd)), c, c) for c in range(clients)]
    heapq.heapify(heap)
    push, pop = heapq.heappush, heapq.heappop
    seq = clients
    version = calls = 0
    finish = 0.0
    while heap:
        t, _, c = pop(heap)
        seq += 1
        if c >= 0:
            seen[c] = version
            # The version travels back to the client, which sends its write at once.
            push(heap, (t + abs(normal(mean, sd)) + abs(normal(mean, sd)), seq, ~c))
            continue
        c = ~c
        calls += 1
        if seen[c] == version:
            version += 1
            finish = max(finish, t + abs(normal(mean, sd)))
        else:
            # Rejection reaches the client; it waits one delay plus backoff, then reads again.
            back = abs(normal(mean, sd)) + abs(normal(mean, sd)) + next(waits[c])
            push(heap, (t + back, seq, c))
    return calls, finish


def run_contention(
    scenario: Contention,
    *,
    seed: int | None = None,
    runs: int | None = None,
    clients: tuple[int, ...] | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> ContentionResult:
    """Run the sweep: every client count times every variant, ``runs`` times each.

    Args:
        scenario: The experiment's parameters.
        seed: Seed for every random number. Default: the scenario's.
        runs: Runs averaged per point. Default: the scenario's (100).
        clients: Client counts to sweep. Default: the scenario's.
        progress: Called with ``(label, fraction done)`` after each point.
    """
    base_seed = scenario.seed if seed is None else seed
    count = scenario.runs if runs is None else runs
    sweep_clients = scenario.clients if clients is None else clients
    points = []
    total = len(sweep_clients) * len(scenario.variants)
    for n in sweep_clients:
        for variant in scenario.variants:
            schedule = backoff_for(variant, scenario.base, scenario.cap)
            calls = elapsed = 0.0
            for run in range(count):
                rng = random.Random(f"brace-contention:{base_seed}:{n}:{variant}:{run}")  # noqa: S311
                c, t = occ_run(n, schedule, rng, scenario.network_mean, scenario.network_sd)
                calls += c
                elapsed += t
            points.append(ContentionPoint(n, variant, calls / count, elapsed / count))
            if progress is not None:
                progress(f"{n} clients, {variant}", len(points) / total)
    return ContentionResult(scenario, base_seed, count, tuple(points))
