"""`CircuitBreaker`: the policy, its sync and async shells, permits and metrics.

The decisions live in `brace._breaker_core.BreakerCore`, the state and its
updates in `brace._breaker_machine.BreakerMachine`; this module only
validates the configuration, runs the user's call between ``admit`` and
``succeeded`` / ``failed`` (permits add ``release``), and reports. The user's call never
runs under a lock, so threads and tasks sharing one breaker run in parallel.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType
from typing import Any, ClassVar, ParamSpec, TypeVar

from brace import _validate
from brace._breaker_core import BreakerCore
from brace._breaker_machine import BreakerMachine, Token
from brace._breaker_rules import RateRule, Rule, StreakRule
from brace._breaker_state import CLOSED, DISABLED, FORCED_OPEN, OpenSchedule, State
from brace._calls import calls_user_code, refuse_awaitable, shell
from brace._clock import Clock
from brace._errors import ConfigError
from brace._policy import Policy
from brace._unasync import IS_ASYNC, sync_twin
from brace._validate import ExceptionFilter
from brace._window import CountWindow, TimeWindow, window_spec
from brace.store._memory import MemoryStore
from brace.store._protocol import BreakerStore

__all__ = ["BreakerMetrics", "CircuitBreaker", "Permit"]

P = ParamSpec("P")
R = TypeVar("R")

_DEFAULT_WINDOW = CountWindow(100)


@dataclass(frozen=True, slots=True)
class BreakerMetrics:
    """A snapshot of a circuit breaker, from `CircuitBreaker.metrics`.

    Args:
        state: What the next call would see.
        calls: Calls in the window (since the breaker last closed).
        failures: Of those, failures.
        slow: Of those, slow calls.
        failure_rate: ``failures / calls`` (0.0 when empty).
        slow_rate: ``slow / calls`` (0.0 when empty).
        consecutive_failures: Failures in a row while CLOSED.
        rejected: Calls rejected since construction or the last ``reset()``.
        time_in_state: Seconds since the current state was entered.
        calls_total: Calls that ended with an outcome since construction
            (monotonic: exporters compute rates from it), in every state.
        failures_total: Of those, failures.
        slow_total: Of those, slow calls.
        rejections_total: Calls rejected since construction (never reset).
    """

    state: State
    calls: int
    failures: int
    slow: int
    failure_rate: float
    slow_rate: float
    consecutive_failures: int
    rejected: int
    time_in_state: float
    calls_total: int = 0
    failures_total: int = 0
    slow_total: int = 0
    rejections_total: int = 0


class Permit:
    """Leave to make one call through a breaker; from `CircuitBreaker.acquire`.

    Report exactly one outcome: `success`, `failure` or `cancel` (the last
    gives a half-open trial slot back without deciding anything). Reporting
    twice raises `RuntimeError`.
    """

    __slots__ = ("_core", "_settled", "_token")

    def __init__(self, core: BreakerMachine, token: Token) -> None:
        self._core = core
        self._token = token
        self._settled = False

    def _settle(self) -> None:
        if self._settled:
            raise RuntimeError("this circuit breaker permit already has its outcome")
        self._settled = True

    def success(self) -> None:
        """Record that the work succeeded (slow if it took longer than ``slow_call_duration``)."""
        self._settle()
        try:
            self._core.succeeded(self._token, None)
        except BaseException:
            self._core.release(self._token)  # failure_if raised: record nothing
            raise

    def failure(self, exc: BaseException | None = None) -> None:
        """Record that the work failed with ``exc``, classified by ``record`` / ``ignore``.

        Args:
            exc: The exception, if there is one. Default None: a plain failure.
        """
        self._settle()
        self._core.failed(self._token, exc)

    def cancel(self) -> None:
        """Record nothing and give the slot back."""
        self._settle()
        self._core.release(self._token)

    @property
    def settled(self) -> bool:
        """Whether an outcome has been reported."""
        return self._settled


class _Guard:
    __slots__ = ("_breaker", "_permit")

    def __init__(self, breaker: CircuitBreaker) -> None:
        self._breaker = breaker
        self._permit: Permit | None = None

    def __enter__(self) -> None:
        self._permit = self._breaker.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        permit, self._permit = self._permit, None
        if permit is None or permit.settled:
            return
        if exc is None:
            permit.success()
        else:
            permit.failure(exc)  # control flow is released, not counted

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


class CircuitBreaker(Policy):
    """Stop calling a dependency that keeps failing; let a few trial calls probe its recovery.

    CLOSED admits calls and records their outcomes in ``window``. With at
    least ``minimum_calls`` recorded, a failure rate >= ``failure_rate`` or a
    slow-call rate >= ``slow_call_rate`` trips it OPEN (or, with
    ``consecutive_failures=N``, N failures in a row). OPEN rejects calls with
    `CircuitOpenError` for ``open_for``; the next call then finds it
    HALF_OPEN, which admits ``half_open_calls`` trials whose outcomes decide
    between CLOSED and OPEN. No timers, no threads: time-driven moves happen
    when a call (or ``.state``) asks.

    Args:
        name: Used in errors, events, metrics and store keys. Default ``"circuitbreaker"``.
        failure_rate: Trip at this share of failures, in (0, 1]. Default 0.5.
        minimum_calls: Calls the window must hold before rates count, >= 1. Default 20.
        window: `CountWindow` or `TimeWindow`. Default ``CountWindow(100)``.
        consecutive_failures: Trip after this many failures in a row instead
            (excludes ``failure_rate``, ``window``, ``minimum_calls`` and slow
            calls). Default None.
        slow_call_duration: Seconds after which a call counts as slow. Default None.
        slow_call_rate: Trip at this share of slow calls, in (0, 1]. Default 1.0.
        open_for: Seconds OPEN before trials, a Backoff, or an iterable of
            seconds for growing waits on repeated trips. Default 30.0.
        half_open_calls: Trial calls admitted in HALF_OPEN, >= 1. Default 5.
        record: Exception types or a predicate counted as failures. Default `Exception`.
        ignore: Exception types or a predicate counted as nothing. Default ``()``.
        failure_if: Predicate on a result that counts it as a failure. Default None.
        clock: Where time is read. Default the system clock.
        rng: Random source for a jittered ``open_for`` Backoff. Default None.
        store: Where the state lives: a `brace.store.MemoryStore`, or a
            `brace.store.RedisStore` to share it across processes.
            Default: private to this breaker.
    """

    _guards_deadline: ClassVar[bool] = True

    def __init__(
        self,
        name: str | None = None,
        *,
        failure_rate: float | None = None,
        minimum_calls: int | None = None,
        window: CountWindow | TimeWindow | None = None,
        consecutive_failures: int | None = None,
        slow_call_duration: float | timedelta | None = None,
        slow_call_rate: float = 1.0,
        open_for: object = 30.0,
        half_open_calls: int = 5,
        record: ExceptionFilter = Exception,
        ignore: ExceptionFilter = (),
        failure_if: Callable[[Any], object] | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        store: BreakerStore | None = None,
    ) -> None:
        super().__init__(name)
        if consecutive_failures is not None:
            consecutive_failures = _validate.positive_int(
                "consecutive_failures", consecutive_failures
            )
            given = {
                "failure_rate": failure_rate,
                "window": window,
                "minimum_calls": minimum_calls,
                "slow_call_duration": slow_call_duration,
            }
            for param, value in given.items():
                if value is not None:
                    raise ConfigError(
                        f"{param}={value!r} is not allowed with consecutive_failures="
                        f"{consecutive_failures}: consecutive mode trips on failures in a row "
                        f"only; drop {param} or consecutive_failures"
                    )
        rate = _validate.probability(
            "failure_rate", 0.5 if failure_rate is None else failure_rate, allow_zero=False
        )
        minimum = _validate.positive_int(
            "minimum_calls", 20 if minimum_calls is None else minimum_calls
        )
        spec = window_spec("window", _DEFAULT_WINDOW if window is None else window)
        if isinstance(spec, CountWindow) and minimum > spec.size:
            raise ConfigError(
                f"minimum_calls={minimum} is out of range for window={spec!r}; expected an "
                f"int <= {spec.size}, or the window could never hold enough calls to trip"
            )
        slow_after = _validate.optional_duration(
            "slow_call_duration", slow_call_duration, allow_zero=False
        )
        slow_rate = _validate.probability("slow_call_rate", slow_call_rate, allow_zero=False)
        if rng is not None and not isinstance(rng, random.Random):
            raise ConfigError(f"rng={rng!r} is not allowed; expected a random.Random or None")
        if failure_if is not None and not callable(failure_if):
            raise ConfigError(
                f"failure_if={failure_if!r} is not allowed; expected a predicate on the result"
            )
        self._clock: Clock = _validate.clock("clock", clock)
        if store is not None and not callable(getattr(store, "breaker_cell", None)):
            raise ConfigError(
                f"store={store!r} is not allowed; expected None or a brace.store.BreakerStore "
                "(an object with breaker_cell(), such as brace.store.MemoryStore())"
            )
        self._store = MemoryStore() if store is None else store
        self._settings: dict[str, object] = {
            "failure_rate": rate,
            "minimum_calls": minimum,
            "window": spec,
            "consecutive_failures": consecutive_failures,
            "slow_call_duration": slow_after,
            "slow_call_rate": slow_rate,
        }
        schedule = OpenSchedule(open_for, rng)
        self._settings["open_for"] = schedule.describe
        trials = _validate.positive_int("half_open_calls", half_open_calls)
        self._settings["half_open_calls"] = trials
        rule: Rule = (
            RateRule(rate, slow_rate, minimum, trials)
            if consecutive_failures is None
            else StreakRule(consecutive_failures, trials)
        )
        core = BreakerCore(
            rule=rule,
            schedule=schedule,
            half_open_calls=trials,
            record=_validate.exception_matcher("record", record),
            ignore=_validate.exception_matcher("ignore", ignore),
            failure_if=failure_if,
            slow_after=slow_after,
        )
        self._machine = BreakerMachine(
            name=self.name,
            core=core,
            cell=self._store.breaker_cell(self.name, spec, self._clock.monotonic()),
            listeners=self._listeners,
            monotonic=self._clock.monotonic,
            timed_window=isinstance(spec, TimeWindow),
        )

    def _config(self) -> dict[str, object]:
        settings = dict(self._settings)
        if settings["consecutive_failures"] is None:
            del settings["consecutive_failures"]
        else:
            for key in ("failure_rate", "minimum_calls", "window", "slow_call_rate"):
                del settings[key]
        if settings.get("slow_call_duration") is None:
            settings.pop("slow_call_duration", None)
            settings.pop("slow_call_rate", None)
        return settings

    # -- the shells -------------------------------------------------------------------------

    # Both shells are the same skeleton around the core's decisions: admit (or raise), run
    # or await the call, hand the outcome back. Nothing else belongs here.

    # One shell, written async; the sync one is derived from it (`brace._unasync`). ``ran``
    # says whether the call itself ended: an exception after that (failure_if, a listener)
    # only gives a trial slot back; one from the call is recorded. The inner handler gives
    # the slot back if an interrupt lands while the outcome is being recorded.

    def _awrap(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        machine = self._machine
        admit, succeeded = machine.admit, machine.succeeded
        failed, release = machine.failed, machine.release
        direct = not IS_ASYNC and calls_user_code(fn)

        async def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            token = admit()
            ran = False
            try:
                result = await fn(*args, **kwargs)
                ran = True
                if direct and hasattr(result, "__await__"):
                    refuse_awaitable(fn, result)
                succeeded(token, result)
            except BaseException as exc:
                try:
                    if ran:
                        release(token)
                    else:
                        failed(token, exc)
                except BaseException:
                    release(token)
                    raise
                raise
            return result

        return shell(wrapped)

    _wrap = sync_twin(_awrap, "_wrap")

    # -- non-function use -------------------------------------------------------------------

    def acquire(self) -> Permit:
        """Admit one unit of work now and return its `Permit`, or raise `CircuitOpenError`.

        For work that is not one function call (a stream, a callback pair):
        report exactly one of ``permit.success()``, ``permit.failure(exc)``
        or ``permit.cancel()`` when it ends.
        """
        return Permit(self._machine, self._machine.admit())

    def guard(self) -> _Guard:
        """A context manager (sync or async) that runs its block as one call through the breaker.

        Entering acquires a permit (or raises `CircuitOpenError`); leaving
        records success, the block's exception as a failure (classified by
        ``record`` / ``ignore``), or nothing for cancellation.
        """
        return _Guard(self)

    # -- control and observation ------------------------------------------------------------

    @property
    def state(self) -> State:
        """What the next call would see (HALF_OPEN once ``open_for`` has passed)."""
        return self._machine.observe(self._clock.monotonic())[0].state

    def force_open(self) -> None:
        """Reject every call (FORCED_OPEN, ``retry_after=None``) until `reset`."""
        self._machine.move(FORCED_OPEN, "force_open()")

    def disable(self) -> None:
        """Admit every call and record nothing (DISABLED) until `reset`."""
        self._machine.move(DISABLED, "disable()")

    def reset(self) -> None:
        """Back to CLOSED with an empty window, counters and ``open_for`` schedule restarted."""
        self._machine.move(CLOSED, "reset()")

    def metrics(self) -> BreakerMetrics:
        """A frozen snapshot: state, window counts and rates, rejections, time in state, totals."""
        now = self._clock.monotonic()
        phase, snap, consecutive, rejected = self._machine.observe(now)
        calls_total, failures_total, slow_total = self._machine.totals(now)
        return BreakerMetrics(
            state=phase.state,
            calls=snap.calls,
            failures=snap.failures,
            slow=snap.slow,
            failure_rate=snap.failure_rate,
            slow_rate=snap.slow_rate,
            consecutive_failures=consecutive,
            rejected=rejected,
            time_in_state=max(now - phase.since, 0.0),
            calls_total=calls_total,
            failures_total=failures_total,
            slow_total=slow_total,
            rejections_total=self._listeners.rejections,
        )
