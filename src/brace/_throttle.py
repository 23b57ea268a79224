"""`Throttle`: client-side adaptive throttling from Google's SRE book ("Handling Overload").

Each client tracks, over the last ``window`` seconds, the calls it offered
(``requests``) and the calls the backend accepted (``accepts``), and rejects a
new call locally with probability::

    max(0, (requests - k * accepts) / (requests + 1))

While the backend is healthy ``requests < k * accepts`` and nothing is
rejected; once it refuses most work, clients shed load themselves instead of
sending requests that would fail anyway, yet keep probing with a few.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar

from brace import _validate
from brace._calls import AwaitableResultError, calls_user_code, refuse_awaitable, shell
from brace._clock import Clock
from brace._errors import ConfigError, RateLimitedError
from brace._events import CallRejected, emit
from brace._policy import Policy
from brace._unasync import IS_ASYNC, sync_twin
from brace._validate import ExceptionFilter
from brace.store._budget import SlidingCount

__all__ = ["Throttle", "ThrottleCore"]

P = ParamSpec("P")
R = TypeVar("R")


class ThrottleCore:
    """Counts and the rejection rule, without I/O; methods take ``now``. Thread-safe."""

    __slots__ = ("_accepts", "_lock", "_requests", "k")

    def __init__(self, k: float, window: float) -> None:
        self.k = k
        self._requests = SlidingCount(window)
        self._accepts = SlidingCount(window)
        self._lock = threading.Lock()

    def reject_probability(self, now: float) -> float:
        """The probability that a call offered at ``now`` is rejected."""
        with self._lock:
            return self._probability_locked(now)

    def _probability_locked(self, now: float) -> float:
        requests = self._requests.total(now)
        accepts = self._accepts.total(now)
        return max(0.0, (requests - self.k * accepts) / (requests + 1))

    def shed(self, now: float) -> None:
        """Count one call the throttle rejected itself: a request with no accept."""
        with self._lock:
            self._requests.add(now)

    def answered(self, now: float, *, accepted: bool) -> None:
        """Count one call that ran and got the backend's answer (``accepted`` or refused)."""
        with self._lock:
            self._requests.add(now)
            if accepted:
                self._accepts.add(now)


class Throttle(Policy):
    """Reject calls locally, in proportion to how often the backend has been refusing them.

    Rejections raise `RateLimitedError` (``retry_after=None``) without
    running the call. ``requests`` counts every call offered, including the
    ones the throttle rejects itself; ``accepts`` counts calls that ran and
    did not raise an exception matching ``on``. A call is counted when it
    ends: calls in flight count as neither, and a cancelled call (which got
    no answer from the backend) is never counted.

    Args:
        name: Used in errors and events. Default ``"throttle"``.
        k: Accepts multiplier, at least 1: the backend may refuse up to
            ``1 - 1/k`` of calls before any are shed. Default 2.0.
        window: Seconds of history counted. Default 120.0.
        on: Exception types (or a predicate) that mean "the backend refused":
            such calls are not accepts. Default `Exception`.
        rng: The `random.Random` for rejection draws. Default: a private one.
        clock: Where time is read. Default: the system clock.

    Raises:
        ConfigError: ``k < 1``, a bad ``window``, ``on`` or ``rng``.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        k: float = 2.0,
        window: float | timedelta = 120.0,
        on: ExceptionFilter = Exception,
        rng: random.Random | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(name)
        factor = _validate.number("k", k, minimum=1.0)
        if rng is not None and not isinstance(rng, random.Random):
            raise ConfigError(f"rng={rng!r} is not allowed; expected None or a random.Random")
        seconds = _validate.duration("window", window, allow_zero=False)
        self.k = factor
        self.window = seconds
        self._refused = _validate.exception_matcher("on", on)
        self._rng = random.Random() if rng is None else rng  # noqa: S311 - not security-sensitive
        self._clock: Clock = _validate.clock("clock", clock)
        self._core = ThrottleCore(self.k, seconds)

    def _config(self) -> dict[str, object]:
        return {"k": self.k, "window": self.window}

    def reject_probability(self) -> float:
        """The probability that a call offered now would be rejected."""
        return self._core.reject_probability(self._clock.monotonic())

    # A call is counted when its answer is known, not when it starts: a call still in flight
    # is neither a request nor an accept, so a burst of concurrent calls to a healthy backend
    # does not look like refusals, and a cancelled call (no answer) is never counted.

    def _admit(self) -> None:
        """Let the call through, or count it as shed and raise `RateLimitedError`."""
        now = self._clock.monotonic()
        probability = self._core.reject_probability(now)
        # Draw only when there is something to decide: a healthy backend costs no random number.
        if not probability or self._rng.random() >= probability:
            return
        self._core.shed(now)
        self._listeners.rejected()  # telemetry: count, now and then summarise in the log
        if self._listeners.active:
            emit(self._listeners, CallRejected(self.name, "throttled", None))
        raise RateLimitedError(
            f"throttle {self.name!r} shed this call locally: the backend has been refusing "
            "most recent calls",
            policy=self.name,
        )

    def _settle(self, exc: BaseException | None) -> None:
        """Count the backend's answer.

        Control flow (cancellation, Ctrl-C) is no answer, nor is an awaitable
        returned by a sync call (a programming error).
        """
        if exc is None:
            self._core.answered(self._clock.monotonic(), accepted=True)
        elif isinstance(exc, Exception) and not isinstance(exc, AwaitableResultError):
            accepted = not self._refused(exc)
            self._core.answered(self._clock.monotonic(), accepted=accepted)

    def _awrap(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        admit, settle = self._admit, self._settle
        direct = not IS_ASYNC and calls_user_code(fn)

        async def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            admit()
            try:
                result = await fn(*args, **kwargs)
                if direct and hasattr(result, "__await__"):
                    refuse_awaitable(fn, result)
            except BaseException as exc:
                settle(exc)
                raise
            settle(None)
            return result

        return shell(wrapped)

    _wrap = sync_twin(_awrap, "_wrap")
