"""Run a scenario: each strategy against the modelled dependency, in virtual time.

Every run gets its own `VirtualEventLoop` and `VirtualClock`, and random
sources derived from the seed by purpose, so every strategy sees the same
arrivals and the same service times for the same seed (common random
numbers), and a run is reproducible to the last digit.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import brace
from brace.sim._load import start_load
from brace.sim._metrics import Recorder, StrategyResult, summarise
from brace.sim._model import Dependency
from brace.sim._scenario import Scenario
from brace.sim._strategies import Strategy, StrategyContext, adapt, find_breaker, members, resolve
from brace.testing import VirtualClock, run

__all__ = ["Progress", "SimulationResult", "simulate"]

#: Called as ``progress(strategy_name, fraction_done)`` while a scenario runs.
Progress = Callable[[str, float], None]


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """Every strategy's figures for one scenario and seed."""

    scenario: Scenario
    seed: int
    runs: int
    strategies: dict[str, StrategyResult]


def _rng(seed: int, purpose: str) -> random.Random:
    # String seeds hash with SHA-512 in random.seed: stable across processes and versions.
    return random.Random(f"brace-sim:{seed}:{purpose}")  # noqa: S311 - a model, not security


async def _simulate_once(
    scenario: Scenario,
    *,
    strategy: Strategy,
    seed: int,
    rec: Recorder,
    clock: VirtualClock,
    tick: Callable[[int], None],
) -> None:
    loop = asyncio.get_running_loop()
    dep = Dependency(scenario.service, loop, _rng(seed, "service"), rec.attempt)
    ctx = StrategyContext(
        clock=clock, rng=_rng(seed, "strategy"), attempt_timeout=scenario.attempt_timeout
    )
    policy = strategy(ctx)
    call = policy(dep.call)
    breaker = find_breaker(policy)
    bounded = any(isinstance(p, brace.Timeout) for p in members(policy))
    limit = scenario.client_timeout
    record = rec.request
    in_flight: set[asyncio.Task[None]] = set()
    deadline, timeout = brace.deadline, asyncio.timeout

    async def request() -> None:
        start = loop.time()
        ok = False
        try:
            # brace policies honour the deadline (a Timeout shrinks to it, a retry never
            # sleeps past it); the asyncio timeout bounds policies that do not.
            with deadline(limit, clock=clock):
                if bounded:
                    await call()
                else:
                    async with timeout(limit):
                        await call()
            ok = True
        except Exception:  # noqa: S110 - every failure of the call is an outcome to count
            pass
        record(start, loop.time() - start, ok)

    def spawn(coro: Coroutine[Any, Any, None]) -> None:
        task = loop.create_task(coro)
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)

    busy_at: list[float] = [0.0]

    def sample_second(second: int) -> None:
        busy = dep.busy_seconds()
        sample_busy, busy_at[0] = busy - busy_at[0], busy
        rec.sample(second, dep.busy + dep.queued, dep.queued, sample_busy, dep.servers)
        if breaker is not None:
            rec.breaker_state(second, breaker.state.value.lower())
        tick(second)

    for second in range(rec.seconds):
        loop.call_at(float(second + 1), sample_second, second)
    start_load(
        scenario.load,
        loop=loop,
        rng=_rng(seed, "arrivals"),
        request=request,
        spawn=spawn,
        end=scenario.duration,
    )
    stop = loop.create_future()
    loop.call_at(float(rec.seconds), stop.set_result, None)
    await stop
    # Let the requests already sent finish; their timeouts bound this.
    while in_flight:
        await asyncio.gather(*in_flight)


def simulate(
    scenario: Scenario,
    strategies: Sequence[str | Callable[..., brace.Policy]] | None = None,
    *,
    seed: int | None = None,
    runs: int = 1,
    progress: Progress | None = None,
) -> SimulationResult:
    """Simulate ``scenario`` once per strategy and return every strategy's figures.

    Args:
        scenario: What to simulate.
        strategies: Built-in names, ``module:function`` paths, or factories
            (callables taking a `StrategyContext`, or nothing, and returning a
            policy; reported under their ``__name__``). Default: the
            scenario's list (all built-ins unless it says otherwise).
        seed: Seed for every random number. Default: the scenario's.
        runs: Runs per strategy with seeds ``seed, seed+1, ...``; the figures
            pool them. Default 1.
        progress: Called with ``(strategy, fraction done)`` as the run advances.

    Raises:
        StrategyError: a strategy that cannot be imported.
    """
    wanted = list(scenario.strategies if strategies is None else strategies)
    factories: dict[str, Strategy] = {}
    for item in wanted:
        if isinstance(item, str):
            factories[item] = resolve(item)
        else:
            factories[getattr(item, "__name__", repr(item))] = adapt(item)
    base = scenario.seed if seed is None else seed
    results: dict[str, StrategyResult] = {}
    for name, factory in factories.items():
        rec = Recorder(scenario.duration)
        for index in range(runs):
            rec.runs += 1
            clock = VirtualClock()

            def tick(
                second: int, name: str = name, index: int = index, rec: Recorder = rec
            ) -> None:
                if progress is not None:
                    progress(name, (index + (second + 1) / rec.seconds) / runs)

            run(
                _simulate_once(
                    scenario, strategy=factory, seed=base + index, rec=rec, clock=clock, tick=tick
                ),
                clock,
            )
        results[name] = summarise(name, rec, scenario.incident())
    return SimulationResult(scenario=scenario, seed=base, runs=runs, strategies=results)
