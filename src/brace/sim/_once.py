"""One run of one strategy: its dependencies, its policies, its requests, on a virtual loop.

`simulate_once` builds, per dependency, the live model (`LiveService`), the
strategy's policy and a breaker log, then drives the scenario's load: each
logical request draws its user and dependency, calls through the policy
within the caller's deadline (or holds one of the caller's workers, when the
scenario has a pool), and is recorded as fresh, degraded or failed. Random
sources are derived from the seed by purpose, so every strategy sees the same
arrivals, users, dependencies and service times.
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
from brace.sim._metrics import DEGRADED, FAILED, FRESH, BreakerTransition, Recorder
from brace.sim._model import Request
from brace.sim._scenario import Scenario
from brace.sim._strategies import (
    DEFAULT_MAX_CONCURRENT,
    Strategy,
    StrategyContext,
    find_breaker,
    is_bounded,
)
from brace.testing import VirtualClock

__all__ = ["DRAIN_SECONDS", "RunSpec", "simulate_once"]

#: Virtual seconds after the run's end that unfinished requests get before they are cut off.
DRAIN_SECONDS = 60.0


def _rng(seed: int, purpose: str) -> random.Random:
    # String seeds hash with SHA-512 in random.seed: stable across processes and versions.
    return random.Random(f"brace-sim:{seed}:{purpose}")  # noqa: S311 - a model, not security


def _purpose(base: str, name: str, single: bool) -> str:
    # One dependency keeps the plain purpose, so its numbers match a scenario with a `service`.
    return base if single else f"{base}:{name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSpec:
    """What one run of one strategy needs: the scenario, the factory, the seed, the clock."""

    scenario: Scenario
    factory: Strategy
    seed: int
    run_index: int
    clock: VirtualClock


class _Route:
    """One dependency in one run: its live model, the strategy's policy for it, its recorder."""

    def __init__(self, spec: RunSpec, index: int, rec: Recorder) -> None:
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


async def simulate_once(
    spec: RunSpec, recs: Sequence[Recorder], tick: Callable[[int], None]
) -> None:
    """Run ``spec`` once, adding what happened to ``recs`` (one recorder per dependency).

    ``tick(second)`` is called at the end of every simulated second.
    """
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
