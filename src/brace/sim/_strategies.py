"""Strategies: factories that build the policy a simulated client calls through.

A strategy is a callable taking a `StrategyContext` (or nothing) and
returning a brace policy, usually a `brace.pipeline`. The simulator builds a
fresh one per run, decorates the dependency's call with it, and bounds each
logical request with the scenario's client timeout (a `brace.deadline` plus
an asyncio timeout for policies that ignore deadlines).

Built-ins, from least to most careful: ``no-retry``, ``naive-retry``,
``backoff``, ``jitter``, ``bulkhead`` (isolation only), ``breaker`` (budgeted
retries and a circuit breaker, no fallback) and ``brace`` (the recommended
pipeline, with a fallback chain). Any other name of the form
``module:function`` is imported.

The protected call takes one argument, a `brace.sim.Request`, and answers
with that same object; a fallback answers with something else, which is
how the simulator counts degraded answers.
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

__all__ = [
    "BUILTIN",
    "DEFAULT_MAX_CONCURRENT",
    "DEFAULT_STRATEGIES",
    "STATIC_ANSWER",
    "Strategy",
    "StrategyContext",
    "StrategyError",
    "resolve",
]


class StrategyError(ConfigError):
    """A strategy name that is neither built in nor an importable ``module:function``."""


#: `StrategyContext.max_concurrent` for a scenario without a worker pool.
DEFAULT_MAX_CONCURRENT = 50


@dataclass(frozen=True, slots=True)
class StrategyContext:
    """What a strategy factory may use to build its policy for one run.

    The factory is called once per dependency per run: in a scenario whose
    service calls several dependencies, each gets its own policy.

    Attributes:
        clock: The run's virtual clock: pass it as ``clock=`` to every policy
            that reads time or waits (retry, breaker, budget, bulkhead,
            LastGood). Timeouts need no clock: the event loop's own timers
            already run in virtual time.
        rng: A seeded random source for jitter; use it for reproducible runs.
        attempt_timeout: The scenario's suggested limit per attempt, in seconds.
        retryable: The exceptions worth retrying: the dependency's errors and timeouts.
        dependency: The name of the dependency this policy protects (a good
            name for its breaker and bulkhead). ``"dependency"`` when there is one.
        max_concurrent: A suggested `brace.Bulkhead` limit for this
            dependency: an even share of the caller's worker pool, or
            `DEFAULT_MAX_CONCURRENT` when the scenario has no pool.
    """

    clock: VirtualClock
    rng: random.Random
    attempt_timeout: float
    retryable: tuple[type[BaseException], ...] = (DependencyError, TimeoutError)
    dependency: str = "dependency"
    max_concurrent: int = DEFAULT_MAX_CONCURRENT


Strategy = Callable[[StrategyContext], brace.Policy]

#: What the ``brace`` strategy's fallback answers when nothing fresher is remembered
#: (the seed's "popular products" for a personalised page).
STATIC_ANSWER = "popular"


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


def bulkhead(ctx: StrategyContext) -> brace.Policy:
    """One attempt through a `Bulkhead` of its own per dependency, bounded by the attempt timeout.

    Calls beyond ``ctx.max_concurrent`` at once are refused at once, so one
    hanging dependency holds at most that many of the caller's workers.
    """
    return brace.pipeline(
        brace.Bulkhead(ctx.dependency, max_concurrent=ctx.max_concurrent, clock=ctx.clock),
        brace.Timeout(ctx.attempt_timeout),
    )


def _careful(ctx: StrategyContext) -> list[brace.Policy]:
    # Retry -> breaker -> bulkhead -> timeout: the recommended order, outermost first.
    retry = brace.Retry(
        attempts=3,
        backoff=brace.Backoff.exponential(initial=0.1, max_delay=2.0, jitter="full"),
        on=ctx.retryable,
        budget=brace.RetryBudget(ratio=0.1, min_per_second=1, window=10.0, clock=ctx.clock),
        rng=ctx.rng,
        clock=ctx.clock,
    )
    breaker = brace.CircuitBreaker(
        ctx.dependency,
        failure_rate=0.5,
        minimum_calls=20,
        window=brace.TimeWindow(seconds=5),
        open_for=5.0,
        half_open_calls=5,
        # A full bulkhead is this caller shedding load, not the dependency failing:
        # counted as a failure, a burst would open the breaker and shed far more.
        ignore=(brace.BulkheadFullError,),
        clock=ctx.clock,
    )
    isolate = brace.Bulkhead(ctx.dependency, max_concurrent=ctx.max_concurrent, clock=ctx.clock)
    return [retry, breaker, isolate, brace.Timeout(ctx.attempt_timeout)]


def breaker(ctx: StrategyContext) -> brace.Policy:
    """The recommended pipeline without its fallback: budgeted retry, breaker, bulkhead, timeout.

    The retry budget caps retries at 10% of first attempts (plus one per
    second), so retries cannot multiply an overload; the breaker stops
    sending while the dependency is failing and probes it every 5 s; the
    bulkhead caps concurrent attempts. What the dependency cannot answer fails.
    """
    return brace.pipeline(*_careful(ctx))


def recommended(ctx: StrategyContext) -> brace.Policy:
    """The recommended pipeline: `breaker`'s protection behind a fallback chain.

    A failed request is answered from `brace.LastGood` (the last fresh answer
    for the same user, up to 5 minutes old), else with a static answer
    (`STATIC_ANSWER`): personalised, then cached, then popular.
    """
    remembered = brace.LastGood(max_age=300, max_entries=100_000, clock=ctx.clock)
    fallback = brace.Fallback([remembered, STATIC_ANSWER])
    return brace.pipeline(fallback, *_careful(ctx))


BUILTIN: dict[str, Strategy] = {
    "no-retry": no_retry,
    "naive-retry": naive_retry,
    "backoff": backoff,
    "jitter": jitter,
    "bulkhead": bulkhead,
    "breaker": breaker,
    "brace": recommended,
}


#: What a scenario runs when it names no strategies: every built-in but ``bulkhead``,
#: which only differs from ``no-retry`` when the caller has a worker pool.
DEFAULT_STRATEGIES = ("no-retry", "naive-retry", "backoff", "jitter", "breaker", "brace")


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


def is_bounded(policy: brace.Policy) -> bool:
    """Whether ``policy`` has a `brace.Timeout`, which honours the request's deadline."""
    return any(isinstance(p, brace.Timeout) for p in members(policy))
