"""Run a scenario: each strategy against the modelled dependencies, in virtual time.

Every run gets its own `VirtualEventLoop` and `VirtualClock`, and random
sources derived from the seed by purpose, so every strategy sees the same
arrivals, users, routes and service times for the same seed (common random
numbers), and a run is reproducible to the last digit. Strategies are
independent of each other, so ``jobs > 1`` runs them in separate processes
and the figures are the same to the last digit.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import math
import random
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import brace
from brace._events import Event, StateChanged
from brace.sim._live import LiveService, WorkerPool
from brace.sim._load import start_load
from brace.sim._metrics import (
    DEGRADED,
    FAILED,
    FRESH,
    BreakerTransition,
    Recorder,
    StrategyResult,
    summarise,
)
from brace.sim._model import Request
from brace.sim._scenario import Scenario
from brace.sim._strategies import (
    DEFAULT_MAX_CONCURRENT,
    Strategy,
    StrategyContext,
    adapt,
    find_breaker,
    is_bounded,
    resolve,
)
from brace.testing import VirtualClock, run

__all__ = ["Progress", "SimulationResult", "simulate"]

#: Virtual seconds after the run's end that unfinished requests get before they are cut off.
DRAIN_SECONDS = 60.0

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


def _purpose(base: str, name: str, single: bool) -> str:
    # One dependency keeps the plain purpose, so its numbers match a scenario with a `service`.
    return base if single else f"{base}:{name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class _RunSpec:
    """What one run of one strategy needs, whichever dependency it builds a policy for."""

    scenario: Scenario
    factory: Strategy
    seed: int
    run_index: int
    clock: VirtualClock


class _Route:
    """One dependency in one run: its live model, the strategy's policy for it, its recorder."""

    def __init__(self, spec: _RunSpec, index: int, rec: Recorder) -> None:
        loop = asyncio.get_running_loop()
        scenario, seed = spec.scenario, spec.seed
        routes = scenario.routes()
        dep, single = routes[index], len(routes) == 1
        self.rec = rec
        self.live = LiveService(
            dep.service, loop, _rng(seed, _purpose("service", dep.name, single)), rec.attempt
        )
        share = (
            DEFAULT_MAX_CONCURRENT
            if scenario.workers is None
            else max(1, math.ceil(scenario.workers / len(routes)))
        )
        ctx = StrategyContext(
            clock=spec.clock,
            rng=_rng(seed, _purpose("strategy", dep.name, single)),
            attempt_timeout=scenario.attempt_timeout,
            dependency=dep.name,
            max_concurrent=share,
        )
        policy = spec.factory(ctx)
        self.call: Call = policy(self.live.call)
        self.bounded = is_bounded(policy)
        self.breaker = find_breaker(policy)
        if self.breaker is not None:
            self.breaker.listen(_transition_log(rec.transitions, spec.run_index, loop))
        self._busy_at = 0.0

    def sample(self, second: int) -> None:
        """Record the end-of-second samples of this dependency (and its breaker)."""
        live = self.live
        busy = live.busy_seconds()
        self.rec.sample(
            second, live.busy + live.queued, live.queued, busy - self._busy_at, live.servers
        )
        self._busy_at = busy
        if self.breaker is not None:
            self.rec.breaker_state(second, self.breaker.state.value.lower())


Call = Callable[[Request], Coroutine[Any, Any, object]]


def _transition_log(
    log: list[BreakerTransition], run_index: int, loop: asyncio.AbstractEventLoop
) -> Callable[[Event], None]:
    """A breaker listener that logs every state change at the loop's (virtual) time."""

    def note(event: Event) -> None:
        if isinstance(event, StateChanged):
            log.append(
                BreakerTransition(
                    run_index,
                    loop.time(),
                    event.policy,
                    event.old.lower(),
                    event.new.lower(),
                    event.reason,
                )
            )

    return note


class _Draws:
    """What each request draws, in arrival order: its user and, with several, its dependency.

    Drawn from their own seeded sources, so every strategy sees the same sequence.
    """

    def __init__(self, scenario: Scenario, seed: int) -> None:
        shares = list(itertools.accumulate(d.share for d in scenario.routes()))
        self.bounds = [s / shares[-1] for s in shares[:-1]]
        self.route = _rng(seed, "routes").random if self.bounds else None
        self.user = _rng(seed, "users").random
        self.users = scenario.users


def _requester(
    routes: list[_Route], draws: _Draws, *, limit: float, clock: VirtualClock
) -> Callable[[], Coroutine[Any, Any, None]]:
    """The coroutine function for one logical request, bounded by the caller's ``limit``."""
    loop = asyncio.get_running_loop()
    by_route = [(r.call, r.bounded, r.rec.request) for r in routes]
    draw_user, users, pick, bounds = draws.user, draws.users, draws.route, draws.bounds
    # One Deadline object serves every request: it keeps no per-entry state.
    client_deadline = brace.deadline(limit, clock=clock)
    timeout_at = asyncio.timeout_at

    async def request() -> None:
        start = loop.time()
        ticket = Request(int(draw_user() * users))
        call, bounded, record = by_route[0 if pick is None else bisect.bisect(bounds, pick())]
        outcome = FAILED
        try:
            # brace policies honour the deadline (a Timeout shrinks to it, a retry never
            # sleeps past it); the asyncio timeout bounds policies that do not.
            with client_deadline:
                if bounded:
                    answer = await call(ticket)
                else:
                    async with timeout_at(start + limit):
                        answer = await call(ticket)
            outcome = FRESH if answer is ticket else DEGRADED
        except Exception:  # noqa: S110 - every failure of the call is an outcome to count
            pass
        record(start, loop.time() - start, outcome)

    return request


def _pooled_requester(
    routes: list[_Route], draws: _Draws, *, limit: float, pool: WorkerPool
) -> Callable[[], Coroutine[Any, Any, None]]:
    """The coroutine function for one logical request that needs one of ``pool``'s workers.

    The request waits in line for a worker until its caller gives up after
    ``limit``. A worker runs its call to the end even after the caller gave
    up (a thread cannot be cancelled): only the strategy's own timeouts bound it.
    """
    loop = asyncio.get_running_loop()
    by_route = [(r.call, r.rec.request) for r in routes]
    draw_user, users, pick, bounds = draws.user, draws.users, draws.route, draws.bounds

    async def request() -> None:
        start = loop.time()
        ticket = Request(int(draw_user() * users))
        call, record = by_route[0 if pick is None else bisect.bisect(bounds, pick())]
        outcome = FAILED
        try:
            if pool.try_acquire() or await _wait_for_worker(pool, start + limit):
                try:
                    answer = await call(ticket)
                    outcome = FRESH if answer is ticket else DEGRADED
                except Exception:  # noqa: S110 - a failed call is an outcome to count
                    pass
                finally:
                    pool.release()
        finally:
            took = loop.time() - start
            record(start, min(took, limit), FAILED if took > limit else outcome)

    return request


async def _wait_for_worker(pool: WorkerPool, expiry: float) -> bool:
    """Wait in line for a worker until the caller gives up at ``expiry``; True if one came."""
    try:
        async with asyncio.timeout_at(expiry):
            await pool.wait()
    except TimeoutError:
        return False
    return True


async def _simulate_once(
    spec: _RunSpec, recs: Sequence[Recorder], tick: Callable[[int], None]
) -> None:
    loop = asyncio.get_running_loop()
    scenario = spec.scenario
    routes = [_Route(spec, i, rec) for i, rec in enumerate(recs)]
    draws = _Draws(scenario, spec.seed)
    # Strong references to the requests' tasks (the loop keeps only weak ones), pruned of
    # finished ones once a second rather than by a callback per task.
    live: set[asyncio.Task[None]] = set()
    limit = scenario.client_timeout
    pool = None if scenario.workers is None else WorkerPool(loop, scenario.workers)
    if pool is None:
        request = _requester(routes, draws, limit=limit, clock=spec.clock)
    else:
        request = _pooled_requester(routes, draws, limit=limit, pool=pool)
    new_task = asyncio.Task  # what loop.create_task does without a task factory, minus a call

    def spawn(coro: Coroutine[Any, Any, None]) -> None:
        live.add(new_task(coro, loop=loop))

    def sample_second(second: int) -> None:
        live.difference_update([task for task in live if task.done()])
        for route in routes:
            route.sample(second)
        if pool is not None:
            recs[0].workers(second, pool.busy)
        tick(second)

    seconds = recs[0].seconds
    for second in range(seconds):
        loop.call_at(float(second + 1), sample_second, second)
    start_load(
        scenario.load,
        loop=loop,
        rng=_rng(spec.seed, "arrivals"),
        request=request,
        spawn=spawn,
        end=scenario.duration,
    )
    stop = loop.create_future()
    loop.call_at(float(seconds), stop.set_result, None)
    await stop
    await _drain(live, seconds + DRAIN_SECONDS)
    for route in routes:
        route.rec.service_starts += route.live.started
        route.rec.queue_wait += route.live.waited


async def _drain(live: set[asyncio.Task[None]], cutoff: float) -> None:
    """Let the requests already sent finish; cut off at ``cutoff`` what nothing bounds.

    Requests are bounded by their timeouts, except a worker stuck on a hanging
    call under a strategy without a timeout.
    """
    loop = asyncio.get_running_loop()
    pending = {task for task in live if not task.done()}
    while pending and loop.time() < cutoff:
        _, pending = await asyncio.wait(pending, timeout=cutoff - loop.time())
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)


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

        spec = _RunSpec(
            scenario=scenario, factory=factory, seed=base + index, run_index=index, clock=clock
        )
        run(_simulate_once(spec, recs, tick), clock)
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
