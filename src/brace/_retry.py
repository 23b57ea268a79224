"""`Retry`: try a failing call again, with backoff, within bounds, under a budget.

The decisions live in `brace._retry_core` (what to do after a failed
attempt: wait how long, or give up why). This module holds the policy and
its retry loop, a `brace._flow` flow (`Retry._flow`) run by the shared
drivers. A call's first attempt is a bare ``try``/``except`` in the shell,
with no generator: the per-call state, the backoff iterator and every
clock read are set up only once an attempt has failed.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any, ClassVar, ParamSpec, TypeVar

from brace import _validate
from brace._backoff import Backoff, as_backoff
from brace._calls import AwaitableResultError, calls_user_code, refuse_awaitable, shell
from brace._clock import Clock
from brace._deadline import _CURRENT, Expiry, check_deadline
from brace._errors import REJECTIONS, ConfigError, RejectedError, TimeoutExceededError, set_note
from brace._events import BudgetExhausted, GaveUp, RetryScheduled, emit
from brace._flow import CALL, Flow, Outcome, adrive, drive  # noqa: F401 - drive: _wrap's
from brace._policy import Policy
from brace._retry_after import RetryAfterHook, retry_after_of
from brace._retry_core import Budget, CallState, GiveUp, Rejected, RetryCore
from brace._telemetry import notable
from brace._unasync import IS_ASYNC, sync_twin
from brace._validate import ExceptionFilter

__all__ = ["Retry"]

P = ParamSpec("P")
R = TypeVar("R")

_DEFAULT_BACKOFF = Backoff.exponential(initial=0.1, multiplier=2.0, max_delay=10.0, jitter="full")


def _retryable_types(on: object) -> tuple[type[Exception], ...] | None:
    """``on`` as a tuple for a bare ``except`` clause, or ``None`` when it is a predicate.

    ``BaseException`` stands for every `Exception`: control flow
    (`KeyboardInterrupt`, `asyncio.CancelledError`, ...) is never retried.
    """
    items = on if isinstance(on, tuple) else (on,)
    if not all(isinstance(item, type) for item in items):
        return None
    return tuple(Exception if item is BaseException else item for item in items)


def _skipped_rejections(on: object) -> tuple[type[RejectedError], ...]:
    """The rejections ``on`` does not name: those are never retried.

    An inner breaker, bulkhead or rate limiter rejecting a call is the
    protection working; retrying it would wait out the protection (an open
    breaker's ``retry_after``) instead of failing fast. Naming a rejection
    type (or `RejectedError`) in ``on`` opts in; a predicate never does.
    """
    items = on if isinstance(on, tuple) else (on,)
    named = [item for item in items if isinstance(item, type) and issubclass(item, RejectedError)]
    return tuple(
        rejection
        for rejection in REJECTIONS
        if not any(issubclass(rejection, item) or issubclass(item, rejection) for item in named)
    )


#: Exceptions whose retrying depends on more than ``on``: rejections, a passed deadline, an
#: awaitable returned by a sync call. One isinstance against these spares the full judgement.
SPECIAL = (RejectedError, AwaitableResultError)


def _retryable(
    catch: tuple[type[Exception], ...],
    predicate: Callable[[BaseException], bool] | None,
    rejections: tuple[type[RejectedError], ...],
) -> Callable[[BaseException], bool]:
    """Whether a failed attempt's exception is one to retry (asked on failure paths only).

    Never: a rejection ``on`` does not name, an awaitable returned by a sync
    call (a programming error), a passed deadline.
    """
    skipped = (*rejections, AwaitableResultError)
    special = SPECIAL

    def retryable(exc: BaseException) -> bool:
        if not isinstance(exc, catch):
            return False
        if isinstance(exc, special):
            if isinstance(exc, skipped):
                return False
            if isinstance(exc, TimeoutExceededError) and exc.source == "deadline":
                return False  # the whole call's time is up: another attempt cannot help
        return predicate is None or predicate(exc)

    return retryable


def _check_budget(budget: object) -> Budget | None:
    if budget is None:
        return None
    if not (
        callable(getattr(budget, "deposit", None))
        and callable(getattr(budget, "try_withdraw", None))
    ):
        raise ConfigError(
            f"budget={budget!r} is not allowed; expected None or a brace.RetryBudget "
            "(an object with deposit() and try_withdraw())"
        )
    return budget  # type: ignore[return-value]


def _check_hook(respect_retry_after: object) -> RetryAfterHook | None:
    if respect_retry_after is True:
        return retry_after_of
    if respect_retry_after is False:
        return None
    if callable(respect_retry_after):
        return respect_retry_after
    raise ConfigError(
        f"respect_retry_after={respect_retry_after!r} is not allowed; expected True, False "
        "or a hook taking the exception (or rejected result) and returning a delay"
    )


class Retry(Policy):
    """Run a call again when it fails, waiting per a backoff schedule, within bounds.

    Retries stop when ``attempts`` are used up, the backoff schedule runs
    out, the next wait would pass ``max_elapsed`` or the current
    `brace.deadline`, the shared ``budget`` has no retry left, or a server's
    ``Retry-After`` exceeds the schedule's ``max_delay``. Giving up re-raises
    the last exception itself with a PEP 678 note saying why; a result that
    ``on_result`` still rejects is returned as it is. Control flow
    (`asyncio.CancelledError`, `KeyboardInterrupt`, ...) is never retried.

    Args:
        name: Used in events and notes. Default ``"retry"``.
        attempts: Total attempts, the first included; ``None`` for no limit
            (then ``max_elapsed``, a finite schedule or a deadline must bound
            the call). Default 3.
        backoff: A `Backoff` or any iterable of seconds. Default
            ``Backoff.exponential(initial=0.1, multiplier=2.0, max_delay=10.0, jitter="full")``.
        on: Exception types (or a tuple of them) to retry, or a predicate
            taking the exception. Default `Exception`.
        on_result: Predicate on a result: true means retry. Default ``None``.
        max_elapsed: Seconds for all attempts and waits together, measured
            from the start of the first attempt. Default ``None``.
        budget: A `RetryBudget` shared with other calls. Default ``None``.
        respect_retry_after: ``True`` (default) waits at least as long as an
            exception's ``retry_after`` (seconds or aware datetime) or a
            ``Retry-After`` response header; ``False`` ignores every hint; a
            callable is a hook ``(exception or rejected result) -> seconds |
            datetime | header str | None`` (see ``docs/retry.md``).
        rng: The `random.Random` that drives jitter. Default: a shared one.
        clock: Where time is read and waits happen. Default: the system clock.

    Raises:
        ConfigError: a bad value for any argument.
    """

    _guards_deadline: ClassVar[bool] = True

    def __init__(
        self,
        name: str | None = None,
        *,
        attempts: int | None = 3,
        backoff: Backoff | Any = None,
        on: ExceptionFilter = Exception,
        on_result: Callable[[Any], object] | None = None,
        max_elapsed: float | timedelta | None = None,
        budget: Budget | None = None,
        respect_retry_after: bool | RetryAfterHook = True,
        rng: random.Random | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(name)
        self._note_key = f"brace.Retry {self.name!r} gave up"
        if attempts is not None:
            _validate.positive_int("attempts", attempts)
        schedule = _DEFAULT_BACKOFF if backoff is None else as_backoff(backoff)
        if on_result is not None and not callable(on_result):
            raise ConfigError(
                f"on_result={on_result!r} is not allowed; expected None or a predicate"
            )
        if rng is not None and not isinstance(rng, random.Random):
            raise ConfigError(f"rng={rng!r} is not allowed; expected None or a random.Random")
        self._core = RetryCore(
            attempts=attempts,
            backoff=schedule,
            matches=_validate.exception_matcher("on", on),
            on_result=on_result,
            max_elapsed=_validate.optional_duration("max_elapsed", max_elapsed, allow_zero=False),
            budget=_check_budget(budget),
            hint_hook=_check_hook(respect_retry_after),
            rng=rng,
        )
        self._clock: Clock = _validate.clock("clock", clock)
        on_types = _retryable_types(on)
        self._delays = schedule._factory(rng)
        # The first attempt catches `_catch` (bare types when `on` is types: free on success);
        # every failure is then judged by `_retryable`.
        self._catch = (Exception,) if on_types is None else on_types
        # When `on` is types, an exception it catches is retried unless it is SPECIAL.
        self._judged = on_types is None
        self._retryable = _retryable(
            self._catch,
            None if on_types is not None else self._core.matches,
            _skipped_rejections(on),
        )
        self._unbounded = (
            attempts is None and self._core.max_elapsed is None and not schedule.finite
        )
        # Bookkeeping before the first attempt (`_prepare`) only when something needs it.
        self._preparing = budget is not None or self._core.max_elapsed is not None
        self._preparing = self._preparing or self._unbounded

    # -- configuration ------------------------------------------------------------------

    @property
    def attempts(self) -> int | None:
        """Total attempts allowed per call, or ``None`` for no limit."""
        return self._core.attempts

    @property
    def backoff(self) -> Backoff:
        """The backoff schedule."""
        return self._core.backoff

    @property
    def budget(self) -> Budget | None:
        """The shared retry budget, if any."""
        return self._core.budget

    def _config(self) -> dict[str, object]:
        core = self._core
        return {
            "attempts": core.attempts,
            "backoff": core.backoff,
            "max_elapsed": core.max_elapsed,
            "budget": core.budget,
            "respect_retry_after": core.hint_hook is not None,
        }

    # -- bookkeeping and reporting, called by the shells and the flow -------------------

    def _prepare(self) -> float | None:
        """Bookkeeping before the first attempt; returns its start time when it must be known."""
        if self._unbounded and _CURRENT.get() is None:
            raise ConfigError(
                f"{self!r} has attempts=None and no max_elapsed, and this call runs outside "
                "any brace.deadline: nothing would ever stop it. Set attempts, max_elapsed "
                "or call it inside brace.deadline(...)"
            )
        core = self._core
        if core.budget is not None:
            core.budget.deposit()
        return self._clock.monotonic() if core.max_elapsed is not None else None

    def _scheduled(self, state: CallState, outcome: BaseException | Rejected, delay: float) -> None:
        kind = None if isinstance(outcome, Rejected) else type(outcome).__name__
        emit(self._listeners, RetryScheduled(self.name, state.attempts, delay, kind))

    def _recheck(self, state: CallState, cur: Expiry | None) -> GiveUp | None:
        """After a wait and before the next attempt: still within the deadline and max_elapsed?"""
        return state.recheck(self._clock.monotonic(), None if cur is None else cur.left())

    def _give_up(self, state: CallState, outcome: BaseException | Rejected, stop: GiveUp) -> Any:
        now = self._clock.monotonic()
        note = RetryCore.note(self.name, state, stop, now)
        if self._listeners.active and stop.reason == "budget":
            emit(self._listeners, BudgetExhausted(self.name, state.attempts))
        # A give-up is rare: always built, for brace's log and counts, then listeners.
        kind = None if isinstance(outcome, Rejected) else type(outcome).__name__
        event = GaveUp(self.name, stop.reason, state.attempts, now - state.start, note, kind)
        notable(self._listeners, event)
        if isinstance(outcome, Rejected):
            return outcome.value
        set_note(outcome, note, key=self._note_key)
        try:
            raise outcome
        finally:
            del outcome

    # -- the retry loop, written once ---------------------------------------------------

    def _flow(self, box: list[Any], start: float | None, first: Outcome) -> Flow:  # noqa: C901, PLR0912
        """One call's retry loop after its first attempt failed: a `brace._flow` flow.

        ``first`` is the first attempt's outcome, already found worth retrying
        (an exception ``on`` matches, or a result ``on_result`` rejects).
        The flow waits or gives up; it yields `CALL` for each further attempt
        and judges its outcome from ``box[0]``. It leaves the answer in
        ``box[0]``, or raises what it does not retry, with a note when it
        gives up.
        """
        core, clock = self._core, self._clock
        retryable, on_result = self._retryable, core.on_result
        catch, judged = self._catch, self._judged
        timed, wall = core.max_elapsed is not None, clock.wall
        # The deadline in force cannot change during this call: look it up once.
        cur = _CURRENT.get()
        ok, value = first
        outcome: BaseException | Rejected = Rejected(value) if ok else value
        state = CallState(core, clock.monotonic() if start is None else start, self._delays())
        try:
            while True:
                try:
                    step = state.after_failure(
                        outcome,
                        clock.monotonic() if timed else 0.0,
                        None if cur is None else cur.left(),
                        wall,
                    )
                except ConfigError as error:  # a bad delay read from a lazy backoff
                    if isinstance(outcome, BaseException):
                        error.__context__ = outcome  # the call's own failure is not lost
                    raise
                if type(step) is GiveUp:
                    box[0] = self._give_up(state, outcome, step)
                    return
                self._listeners.retried()  # telemetry: one atomic count
                if self._listeners.active:
                    self._scheduled(state, outcome, step)  # type: ignore[arg-type]
                if step:  # a zero wait does not sleep (nor yield to the event loop)
                    yield step  # type: ignore[misc]
                if timed or cur is not None:
                    stop = self._recheck(state, cur)
                    if stop is not None:
                        box[0] = self._give_up(state, outcome, stop)
                        return
                state.attempts += 1
                yield CALL
                ok, value = box[0]
                if ok:
                    if on_result is None or not on_result(value):
                        box[0] = value
                        return
                    outcome = Rejected(value)
                elif isinstance(value, catch) and (
                    not (judged or isinstance(value, SPECIAL)) or retryable(value)
                ):
                    outcome = value
                else:
                    raise value
        finally:
            # The last exception's traceback holds this frame: break the cycle now, not in the GC.
            del outcome, value, first

    # -- the shells: the first attempt is a bare try/except; the flow starts on failure -----

    def _awrap(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        name, deadline, prepare, flow, clock = (
            self.name,
            _CURRENT.get,
            self._prepare,
            self._flow,
            self._clock,
        )
        catch, retryable, on_result = self._catch, self._retryable, self._core.on_result
        judged, special = self._judged, SPECIAL
        preparing = self._preparing
        direct = not IS_ASYNC and calls_user_code(fn)

        async def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            if deadline() is not None:
                check_deadline(name)
            start = prepare() if preparing else None
            try:
                result = await fn(*args, **kwargs)
            except catch as exc:
                if (judged or isinstance(exc, special)) and not retryable(exc):
                    raise
                first: Outcome = False, exc
            else:
                if direct and hasattr(result, "__await__"):
                    refuse_awaitable(fn, result)
                if on_result is None or not on_result(result):
                    return result
                first = True, result
            try:
                box: list[Any] = [None]
                return await adrive(flow(box, start, first), box, fn, args, kwargs, clock)  # type: ignore[no-any-return]
            finally:
                del first

        return shell(wrapped)

    _wrap = sync_twin(_awrap, "_wrap", adrive="drive")
