"""The sans-I/O core of `Retry`: after a failed attempt, wait how long, or give up why.

Nothing here sleeps, awaits or reads a clock: the drivers in ``_retry.py``
pass ``now`` in and act on the decision. Per-call state lives in one
`CallState` created by the call that failed, never in the shared policy.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from brace._backoff import Backoff
from brace._retry_after import RetryAfterHook, hint_seconds, retry_after_of
from brace._validate import ExceptionMatcher

__all__ = ["Budget", "CallState", "GiveUp", "Rejected", "RetryCore"]


class Budget(Protocol):
    """What a `Retry` needs from a retry budget (`RetryBudget` is one)."""

    def deposit(self) -> None:
        """Record one first attempt."""
        ...

    def try_withdraw(self) -> bool:
        """Take one retry if allowed."""
        ...


class Rejected:
    """A result that ``on_result`` asked to retry: the outcome of an attempt that did not raise."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Stop retrying: ``reason`` is a short code, ``detail`` the sentence for the note."""

    reason: str  # "attempts" | "backoff" | "retry_after" | "max_elapsed" | "deadline" | "budget"
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryCore:
    """The validated, frozen configuration of a `Retry`, and its decisions."""

    attempts: int | None
    backoff: Backoff
    matches: ExceptionMatcher
    on_result: Callable[[object], object] | None
    max_elapsed: float | None
    budget: Budget | None
    hint_hook: RetryAfterHook | None
    rng: random.Random | None

    @staticmethod
    def note(name: str, state: CallState, give_up: GiveUp, now: float) -> str:
        """The PEP 678 note added to the last exception when a call gives up."""
        n = state.attempts
        plural = "attempt" if n == 1 else "attempts"
        took = now - state.start
        return f"brace.Retry {name!r} gave up after {n} {plural} in {took:.2f} s: {give_up.detail}"


class CallState:
    """One call's progress: attempts made, its own backoff iterator, when it started."""

    __slots__ = ("attempts", "core", "delays", "start")

    def __init__(self, core: RetryCore, start: float, delays: Iterator[float]) -> None:
        self.core = core
        self.start = start
        self.delays = delays
        self.attempts = 1

    def after_failure(  # noqa: C901 - one flat function: it runs once per retry
        self,
        outcome: BaseException | Rejected,
        now: float,
        deadline_left: float | None,
        wall_now: Callable[[], float],
    ) -> float | GiveUp:
        """Seconds to wait before the next attempt, or why to give up now.

        ``deadline_left`` is the time left in the current ``brace.deadline``
        (``None`` outside one); ``wall_now`` converts datetime hints. The
        retry budget, if any, is consulted last so that a token is taken only
        for a retry that will happen.
        """
        core = self.core
        if core.attempts is not None and self.attempts >= core.attempts:
            return GiveUp("attempts", f"no attempts left (attempts={core.attempts})")
        delay = next(self.delays, None)
        if delay is None:
            return GiveUp("backoff", "the backoff schedule ran out")
        hook = core.hint_hook
        if hook is not None:
            if hook is retry_after_of and type(outcome) is not Rejected:
                # The default hook's common miss, without the call: no hint attribute at all.
                raw = getattr(outcome, "retry_after", None)
                if raw is None and getattr(outcome, "response", None) is not None:
                    raw = retry_after_of(outcome)
            else:
                try:
                    raw = hook(outcome.value if type(outcome) is Rejected else outcome)
                except Exception:
                    raw = None  # a broken hint hook must not break the call: plain backoff
            if raw is not None:
                hinted = self._with_hint(delay, raw, wall_now)
                if type(hinted) is GiveUp:
                    return hinted
                delay = hinted  # type: ignore[assignment]
        if core.max_elapsed is not None or deadline_left is not None:
            stop = self._past_bounds(delay, now, deadline_left)
            if stop is not None:
                return stop
        if core.budget is not None and not core.budget.try_withdraw():
            return GiveUp("budget", "the retry budget is exhausted")
        return delay

    def _with_hint(
        self, delay: float, raw: object, wall_now: Callable[[], float]
    ) -> float | GiveUp:
        hint = hint_seconds(raw, wall_now)
        if hint is None:
            return delay
        cap = self.core.backoff.max_delay
        if cap is not None and hint > cap:
            return GiveUp(
                "retry_after",
                f"the server asked to wait {hint:g} s, more than max_delay={cap:g} s",
            )
        return max(delay, hint)

    def _past_bounds(self, delay: float, now: float, deadline_left: float | None) -> GiveUp | None:
        max_elapsed = self.core.max_elapsed
        if max_elapsed is not None and now + delay - self.start >= max_elapsed:
            return GiveUp(
                "max_elapsed",
                f"waiting {delay:.3g} s more would pass max_elapsed={max_elapsed:g} s",
            )
        if deadline_left is not None and delay >= deadline_left:
            return GiveUp(
                "deadline",
                f"waiting {delay:.3g} s would pass the deadline ({deadline_left:.3g} s left)",
            )
        return None

    def recheck(self, now: float, deadline_left: float | None) -> GiveUp | None:
        """Re-check the bounds after a wait, since sleeps overshoot; ``None`` means go on."""
        if deadline_left is not None and deadline_left <= 0:
            return GiveUp("deadline", "the deadline passed")
        max_elapsed = self.core.max_elapsed
        if max_elapsed is not None and now - self.start >= max_elapsed:
            return GiveUp("max_elapsed", f"max_elapsed={max_elapsed:g} s passed")
        return None
