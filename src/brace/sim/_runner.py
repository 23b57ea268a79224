"""Run a scenario: each strategy against the modelled dependencies, in virtual time.

Every run gets its own `VirtualEventLoop` and `VirtualClock`, and random
sources derived from the seed by purpose, so every strategy sees the same
arrivals, users, routes and service times for the same seed (common random
numbers), and a run is reproducible to the last digit. Strategies are
independent of each other, so ``jobs > 1`` runs them in separate processes
and the figures are the same to the last digit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import brace
from brace.sim._metrics import Recorder, StrategyResult, summarise
from brace.sim._once import RunSpec, simulate_once
from brace.sim._scenario import Scenario
from brace.sim._strategies import Strategy, adapt, resolve
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


def _factories(wanted: Sequence[str | Callable[..., brace.Policy]]) -> dict[str, Strategy]:
    factories: dict[str, Strategy] = {}
    for item in wanted:
        if isinstance(item, str):
            factories[item] = resolve(item)
        else:
            factories[getattr(item, "__name__", repr(item))] = adapt(item)
    return factories


def _simulate_strategy(
    scenario: Scenario,
    name: str,
    factory: Strategy,
    *,
    base: int,
    runs: int,
    progress: Progress | None,
) -> StrategyResult:
    names = [d.name for d in scenario.routes()]
    recs = [Recorder(scenario.duration) for _ in names]
    for index in range(runs):
        for rec in recs:
            rec.runs += 1
        clock = VirtualClock()

        def tick(second: int, index: int = index) -> None:
            if progress is not None:
                progress(name, (index + (second + 1) / recs[0].seconds) / runs)

        spec = RunSpec(
            scenario=scenario, factory=factory, seed=base + index, run_index=index, clock=clock
        )
        run(simulate_once(spec, recs, tick), clock)
    incident = scenario.incident()
    if len(recs) == 1:
        return summarise(name, recs[0], incident)
    per = {n: summarise(n, rec, incident) for n, rec in zip(names, recs, strict=True)}
    return summarise(name, Recorder.merge(recs, scenario.duration), incident, per)


def _strategy_by_name(scenario: Scenario, name: str, base: int, runs: int) -> StrategyResult:
    # The entry point of a worker process: strategies cross the process boundary by name.
    return _simulate_strategy(scenario, name, resolve(name), base=base, runs=runs, progress=None)


def simulate(
    scenario: Scenario,
    strategies: Sequence[str | Callable[..., brace.Policy]] | None = None,
    *,
    seed: int | None = None,
    runs: int = 1,
    jobs: int = 1,
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
        jobs: Strategies simulated at once, each in its own process (>= 1).
            The figures do not depend on it. Factories given as callables
            always run in this process. Default 1.
        progress: Called with ``(strategy, fraction done)`` as the run advances
            (with ``jobs > 1``: once per strategy, when it is done).

    Raises:
        StrategyError: a strategy that cannot be imported.
    """
    wanted = list(scenario.strategies if strategies is None else strategies)
    factories = _factories(wanted)  # resolves every name first: errors before any work
    base = scenario.seed if seed is None else seed
    by_name = [n for n in wanted if isinstance(n, str)]
    results: dict[str, StrategyResult] = {}
    if jobs > 1 and len(by_name) > 1:
        results.update(
            _in_processes(scenario, by_name, base=base, runs=runs, jobs=jobs, progress=progress)
        )
    for name, factory in factories.items():
        if name not in results:
            results[name] = _simulate_strategy(
                scenario, name, factory, base=base, runs=runs, progress=progress
            )
    ordered = {name: results[name] for name in factories}
    return SimulationResult(scenario=scenario, seed=base, runs=runs, strategies=ordered)


def _in_processes(
    scenario: Scenario,
    names: list[str],
    *,
    base: int,
    runs: int,
    jobs: int,
    progress: Progress | None,
) -> dict[str, StrategyResult]:
    # Imported here: most runs use one process, and these imports cost start-up time.
    from concurrent.futures import ProcessPoolExecutor, as_completed  # noqa: PLC0415
    from multiprocessing import get_context  # noqa: PLC0415

    # "spawn": a fresh interpreter per worker, safe whatever threads this process runs.
    results: dict[str, StrategyResult] = {}
    context = get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(names)), mp_context=context) as pool:
        pending = {
            pool.submit(_strategy_by_name, scenario, name, base, runs): name for name in names
        }
        for future in as_completed(pending):
            name = pending[future]
            results[name] = future.result()
            if progress is not None:
                progress(name, len(results) / len(names))
    return results
