"""`Retry`: try a failing call again, with backoff, within bounds, under a budget.

The decisions live in `brace._retry_core`. This module holds the policy
object and the retry loop, written once as a generator (`Retry._flow`) that
says what to do next: call again, or sleep. Two small drivers, one sync and
one asyncio, only carry that out, so the two paths cannot drift apart. A
decorated function's first attempt is as cheap as a plain ``try``/``except``
(no generator); the per-call state, the backoff iterator and every clock
read are set up only once an attempt has failed.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Coroutine, Generator
from datetime import timedelta
from typing import Any, Final, ParamSpec, TypeVar

from brace import _validate
from brace._backoff import Backoff, as_backoff
from brace._clock import Clock, await_wait, wait
from brace._deadline import _CURRENT, Expiry, check_deadline
from brace._errors import REJECTIONS, ConfigError, RejectedError, TimeoutExceededError, set_note
from brace._events import BudgetExhausted, GaveUp, RetryScheduled, emit
from brace._policy import (
    Args,
    AwaitableResultError,
    Kwargs,
    Policy,
    calls_user_code,
    refuse_awaitable,
    shell,
)
from brace._retry_after import RetryAfterHook, retry_after_of
from brace._retry_core import Budget, CallState, GiveUp, Rejected, RetryCore
from brace._telemetry import notable

__all__ = ["Retry"]

P = ParamSpec("P")
R = TypeVar("R")

#: What `Retry._flow` yields to have the function run once more; it yields seconds to sleep.
CALL: Final = None
Outcome = tuple[bool, Any]  # (True, result) or (False, exception), sent back after a CALL
Flow = Generator[float | None, Any, Any]

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

    def retryable(exc: BaseException) -> bool:
        if not isinstance(exc, catch) or isinstance(exc, skipped):
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

    def __init__(
        self,
        name: str | None = None,
        *,
        attempts: int | None = 3,
        backoff: Backoff | Any = None,
        on: type[BaseException]
        | tuple[type[BaseException], ...]
        | Callable[[BaseException], object] = Exception,
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
        self._on_types = _retryable_types(on)
        self._delays = schedule._factory(rng)
        # Failed attempts are judged by `_retryable`; the fast shells catch `_on_types` first.
        self._retryable = _retryable(
            (Exception,) if self._on_types is None else self._on_types,
            None if self._on_types is not None else self._core.matches,
            _skipped_rejections(on),
        )
        self._unbounded = (
            attempts is None and self._core.max_elapsed is None and not schedule.finite
        )
        # The bare try/except closure serves calls that need nothing else on the first attempt.
        self._simple = (
            self._on_types is not None
            and on_result is None
            and budget is None
            and self._core.max_elapsed is None
            and not self._unbounded
        )

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

    # -- shared by both drivers ---------------------------------------------------------

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

    def _flow(  # noqa: C901, PLR0912 - one flat loop: no helper call per attempt
        self,
        box: list[Any],
        start: float | None,
        outcome: BaseException | Rejected | None,
        first: Outcome | None = None,
    ) -> Flow:
        """One call's whole retry loop, as a generator that two small drivers run.

        It starts from the first attempt's failure ``outcome`` (one to retry),
        or from the first attempt's unjudged `Outcome` ``first``, or with
        neither from no attempt at all. It yields `CALL` to have the
        function run once more, and reads its `Outcome` from ``box[0]``; or
        it yields a positive number of seconds to sleep. It leaves the answer
        in ``box[0]`` and ends, or raises what it does not retry, with a note
        when it gives up. (Passing values through ``box`` lets the drivers
        iterate with ``for``, whose end costs no StopIteration object.)
        """
        core, clock = self._core, self._clock
        retryable, on_result = self._retryable, core.on_result
        timed, wall = core.max_elapsed is not None, clock.wall
        # The deadline in force cannot change during this call: look it up once.
        cur = _CURRENT.get()
        state: CallState | None = None
        value: Any = None
        try:
            while True:
                if outcome is not None:  # an attempt failed: wait, or give up
                    if state is None:
                        now = clock.monotonic() if start is None else start
                        state = CallState(core, now, self._delays())
                    step = state.after_failure(
                        outcome,
                        clock.monotonic() if timed else 0.0,
                        None if cur is None else cur.left(),
                        wall,
                    )
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
                if first is None:
                    yield CALL
                    ok, value = box[0]
                else:
                    (ok, value), first = first, None
                if ok:
                    if on_result is None or not on_result(value):
                        box[0] = value
                        return
                    outcome = Rejected(value)
                elif retryable(value):
                    outcome = value
                else:
                    raise value
        finally:
            # The last exception's traceback holds this frame: break the cycle now, not in the GC.
            del outcome, value, first

    # -- the two drivers: all they do is call (or await) and sleep ----------------------

    def _retry(
        self, fn: Callable[..., R], args: Args, kwargs: Kwargs, flow: Flow, box: list[Any]
    ) -> R:
        """Run `_flow`'s instructions in this thread."""
        clock = self._clock
        try:
            direct = calls_user_code(fn)
            for step in flow:
                if step is CALL:
                    try:
                        result = fn(*args, **kwargs)
                    except Exception as exc:
                        box[0] = False, exc
                    else:
                        if direct and hasattr(result, "__await__"):
                            refuse_awaitable(fn, result)
                        box[0] = True, result
                else:  # a sleep: the flow re-checks its bounds when resumed
                    wait(clock, step)
            return box[0]  # type: ignore[no-any-return]
        except BaseException:
            # Control flow (KeyboardInterrupt) leaves the flow suspended, holding the last
            # failure, whose traceback holds this frame: end it now rather than in the GC.
            flow.close()
            raise
        finally:
            box.clear()

    async def _aretry(
        self,
        fn: Callable[..., Awaitable[R]],
        args: Args,
        kwargs: Kwargs,
        flow: Flow,
        box: list[Any],
    ) -> R:
        """Run `_flow`'s instructions in this task; a cancelled sleep or call ends it at once."""
        clock = self._clock
        try:
            for step in flow:
                if step is CALL:
                    try:
                        box[0] = True, await fn(*args, **kwargs)
                    except Exception as exc:
                        box[0] = False, exc
                else:  # a sleep: the flow re-checks its bounds when resumed
                    await await_wait(clock, step)
            return box[0]  # type: ignore[no-any-return]
        except BaseException:
            flow.close()  # cancelled in a call or a sleep: end the flow now, as in `_retry`
            raise
        finally:
            box.clear()

    # The first attempt runs before any generator exists, so a call that succeeds at once
    # pays for a try/except only; the flow judges its outcome if it did not.

    def _run(self, fn: Callable[..., R], args: Args, kwargs: Kwargs) -> R:
        start = self._prepare()
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            first: Outcome = False, exc
        else:
            if hasattr(result, "__await__"):
                refuse_awaitable(fn, result)
            on_result = self._core.on_result
            if on_result is None or not on_result(result):
                return result
            first = True, result
        try:
            box: list[Any] = [None]
            return self._retry(fn, args, kwargs, self._flow(box, start, None, first), box)
        finally:
            del first

    async def _arun(self, fn: Callable[..., Awaitable[R]], args: Args, kwargs: Kwargs) -> R:
        start = self._prepare()
        try:
            result = await fn(*args, **kwargs)
        except Exception as exc:
            first: Outcome = False, exc
        else:
            on_result = self._core.on_result
            if on_result is None or not on_result(result):
                return result
            first = True, result
        try:
            box: list[Any] = [None]
            return await self._aretry(fn, args, kwargs, self._flow(box, start, None, first), box)
        finally:
            del first

    # The decorator shells add the one thing a driver cannot share: a first attempt as cheap
    # as a bare try/except, with no generator, when the configuration allows it.

    def _wrap(self, fn: Callable[P, R]) -> Callable[P, R]:
        if not self._simple or self._on_types is None:
            return super()._wrap(fn)
        on_types, retry, flow, name = self._on_types, self._retry, self._flow, self.name
        retryable, direct = self._retryable, calls_user_code(fn)

        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            if _CURRENT.get() is not None:
                check_deadline(name)
            try:
                result = fn(*args, **kwargs)
            except on_types as exc:
                if not retryable(exc):
                    raise
                failure = exc
            else:
                if direct and hasattr(result, "__await__"):
                    refuse_awaitable(fn, result)
                return result
            try:
                box: list[Any] = [None]
                return retry(fn, args, kwargs, flow(box, None, failure), box)
            finally:
                del failure

        return shell(wrapped)

    def _awrap(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        if not self._simple or self._on_types is None:
            return super()._awrap(fn)
        on_types, aretry, flow, name = self._on_types, self._aretry, self._flow, self.name
        retryable = self._retryable

        async def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            if _CURRENT.get() is not None:
                check_deadline(name)
            try:
                return await fn(*args, **kwargs)
            except on_types as exc:
                if not retryable(exc):
                    raise
                failure = exc
            try:
                box: list[Any] = [None]
                return await aretry(fn, args, kwargs, flow(box, None, failure), box)
            finally:
                del failure

        return shell(wrapped)
