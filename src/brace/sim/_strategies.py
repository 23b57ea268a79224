"""Strategies: factories that build the policy a simulated client calls through.

A strategy is a callable taking a `StrategyContext` (or nothing) and
returning a brace policy, usually a `brace.pipeline`. The simulator builds a
fresh one per run, decorates the dependency's call with it, and bounds each
logical request with the scenario's client timeout (a `brace.deadline` plus
an asyncio timeout for policies that ignore deadlines).

Built-ins, from least to most careful: ``no-retry``, ``naive-retry``,
``backoff``, ``jitter`` and ``brace`` (the recommended pipeline). Any other
name of the form ``module:function`` is imported.
"""

from __future__ import annotations

import importlib
import inspect
import random
from collections.abc import Callable
from dataclasses import dataclass

import brace
from brace._errors import ConfigError
from brace.sim._model import DependencyError
from brace.testing import VirtualClock

__all__ = ["BUILTIN", "Strategy", "StrategyContext", "StrategyError", "resolve"]


class StrategyError(ConfigError):
    """A strategy name that is neither built in nor an importable ``module:function``."""


@dataclass(frozen=True, slots=True)
class StrategyContext:
    """What a strategy factory may use to build its policy for one run.

    Attributes:
        clock: The run's virtual clock: pass it as ``clock=`` to every policy
            that reads time or waits (retry, breaker, budget). Timeouts need no
            clock: the event loop's own timers already run in virtual time.
        rng: A seeded random source for jitter; use it for reproducible runs.
        attempt_timeout: The scenario's suggested limit per attempt, in seconds.
        retryable: The exceptions worth retrying: the dependency's errors and timeouts.
    """

    clock: VirtualClock
    rng: random.Random
    attempt_timeout: float
    retryable: tuple[type[BaseException], ...] = (DependencyError, TimeoutError)


Strategy = Callable[[StrategyContext], brace.Policy]


def no_retry(ctx: StrategyContext) -> brace.Policy:
    """One attempt, bounded by the attempt timeout."""
    return brace.pipeline(brace.Timeout(ctx.attempt_timeout))


def naive_retry(ctx: StrategyContext) -> brace.Policy:
    """Three attempts back to back, no wait: the retry storm generator."""
    retry = brace.Retry(
        attempts=3,
        backoff=brace.Backoff.constant(0),
        on=ctx.retryable,
        rng=ctx.rng,
        clock=ctx.clock,
    )
    return brace.pipeline(retry, brace.Timeout(ctx.attempt_timeout))


def _exponential(ctx: StrategyContext, jitter: brace.Backoff | None) -> brace.Policy:
    retry = brace.Retry(
        attempts=3,
        backoff=jitter,
        on=ctx.retryable,
        rng=ctx.rng,
        clock=ctx.clock,
    )
    return brace.pipeline(retry, brace.Timeout(ctx.attempt_timeout))


def backoff(ctx: StrategyContext) -> brace.Policy:
    """Three attempts with exponential backoff (0.1 s, 0.2 s), no jitter."""
    return _exponential(ctx, brace.Backoff.exponential(initial=0.1, max_delay=2.0, jitter=None))


def jitter(ctx: StrategyContext) -> brace.Policy:
    """Three attempts with exponential backoff and full jitter."""
    return _exponential(ctx, brace.Backoff.exponential(initial=0.1, max_delay=2.0, jitter="full"))


def recommended(ctx: StrategyContext) -> brace.Policy:
    """The recommended pipeline: budgeted jittered retry, circuit breaker, timeout per attempt.

    The retry budget caps retries at 10% of first attempts (plus one per
    second), so retries cannot multiply an overload; the breaker stops
    sending while the dependency is failing and probes it every 5 s.
    """
    retry = brace.Retry(
        attempts=3,
        backoff=brace.Backoff.exponential(initial=0.1, max_delay=2.0, jitter="full"),
        on=ctx.retryable,
        budget=brace.RetryBudget(ratio=0.1, min_per_second=1, window=10.0, clock=ctx.clock),
        rng=ctx.rng,
        clock=ctx.clock,
    )
    breaker = brace.CircuitBreaker(
        "dependency",
        failure_rate=0.5,
        minimum_calls=20,
        window=brace.TimeWindow(seconds=5),
        open_for=5.0,
        half_open_calls=5,
        clock=ctx.clock,
    )
    return brace.pipeline(retry, breaker, brace.Timeout(ctx.attempt_timeout))


BUILTIN: dict[str, Strategy] = {
    "no-retry": no_retry,
    "naive-retry": naive_retry,
    "backoff": backoff,
    "jitter": jitter,
    "brace": recommended,
}


def resolve(name: str) -> Strategy:
    """The factory for a built-in name or a ``module:function`` path.

    Raises:
        StrategyError: unknown name, or the module or function cannot be imported.
    """
    if name in BUILTIN:
        return BUILTIN[name]
    module_name, sep, attr = name.partition(":")
    if not sep or not module_name or not attr:
        raise StrategyError(
            f"unknown strategy {name!r}; expected one of {', '.join(BUILTIN)} "
            "or a factory as 'module:function'"
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise StrategyError(
            f"strategy {name!r}: cannot import module {module_name!r} ({exc})"
        ) from None
    factory = module
    for part in attr.split("."):
        if not hasattr(factory, part):
            raise StrategyError(
                f"strategy {name!r}: module {module_name!r} has no attribute {attr!r}"
            )
        factory = getattr(factory, part)
    if not callable(factory):
        raise StrategyError(f"strategy {name!r}: {attr!r} is not callable")
    return adapt(factory)


def adapt(factory: Callable[..., object]) -> Strategy:
    """Wrap a user factory: given the context if it takes an argument; must return a policy."""
    try:
        takes_context = bool(inspect.signature(factory).parameters)
    except (TypeError, ValueError):
        takes_context = True

    def build(ctx: StrategyContext) -> brace.Policy:
        try:
            policy = factory(ctx) if takes_context else factory()
        except Exception as exc:
            raise StrategyError(f"strategy factory {factory!r} failed: {exc!r}") from None
        if not isinstance(policy, brace.Policy):
            raise StrategyError(f"strategy factory {factory!r} returned {policy!r}, not a policy")
        return policy

    return build


def members(policy: brace.Policy) -> tuple[brace.Policy, ...]:
    """The policies of a pipeline, outermost first, or the policy alone."""
    return policy.policies if isinstance(policy, brace.Pipeline) else (policy,)


def find_breaker(policy: brace.Policy) -> brace.CircuitBreaker | None:
    """The first circuit breaker in ``policy`` (a pipeline or a single policy), if any."""
    for member in members(policy):
        if isinstance(member, brace.CircuitBreaker):
            return member
    return None
