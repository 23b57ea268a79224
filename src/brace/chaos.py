"""Fault injection: policies that make calls fail, slow down or lie, on purpose.

`Fault`, `Latency` and `Result` are ordinary pipeline members: put one
innermost (next to the call) to see how the policies around it cope. Each
fires with probability ``rate``, drawn from a seedable ``rng``, and only
while ``enabled`` is true, so one pipeline runs clean in production and
faulty in staging::

    from brace import chaos

    flaky = chaos.Fault(ConnectionError("injected"), 0.1, enabled=chaos.env("BRACE_CHAOS"))
    policy = brace.pipeline(brace.Retry(attempts=3), flaky)

Each injection emits `Injected`. Every chaos policy takes, besides its own
arguments:

* ``enabled``: a bool, or a zero-argument callable checked on every call
  (e.g. ``chaos.env("BRACE_CHAOS")``). Default True.
* ``rng``: the `random.Random` that draws the coin; seed it for reproducible
  runs. Default: a fresh unseeded one.
* ``clock``: where `Latency` sleeps (``clock.sleep`` / ``clock.asleep``);
  unused by the others. Default: the system clock.
* ``name``: used in events and reprs. Default: the class name in lower case.
"""

from __future__ import annotations

import copy
import os
import random
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, Final, Generic, ParamSpec, TypeVar

from brace import _validate
from brace._calls import calls_user_code, refuse_awaitable, shell
from brace._clock import Clock
from brace._deadline import _CURRENT, check_deadline
from brace._errors import ConfigError
from brace._events import Event, emit
from brace._policy import Policy
from brace._unasync import IS_ASYNC, sync_twin

__all__ = ["Fault", "Injected", "Latency", "Result", "env"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

_TRUTHY = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True, slots=True)
class Injected(Event):
    """A chaos policy fired: ``kind`` is ``"fault"``, ``"latency"`` or ``"result"``."""

    kind: str


def env(variable: str, *, default: bool = False) -> Callable[[], bool]:
    """An ``enabled=`` switch that reads the environment variable ``variable`` on every call.

    ``1``, ``true``, ``yes`` and ``on`` (any case) turn it on; any other
    value turns it off; an unset variable means ``default`` (False).
    """
    _validate.name("variable", variable)

    def enabled() -> bool:
        value = os.environ.get(variable)
        return default if value is None else value.strip().lower() in _TRUTHY

    enabled.__qualname__ = f"chaos.env({variable!r})"
    return enabled


# `_Chaos._decide`'s verdict for `Result`: answer with the injected value, skip the call.
_ANSWER: Final = -1.0


class _Chaos(Policy, Generic[T]):
    """Shared by the chaos policies: the signature, the enabled switch, the coin, the shells.

    A subclass validates and keeps its first argument (what to inject) in
    ``_configure``, and says what a firing does in ``_inject``: raise
    (`Fault`), return seconds to sleep before the call (`Latency`), or return
    ``_ANSWER`` to answer ``_answer`` instead of the call (`Result`).
    """

    _guards_deadline: ClassVar[bool] = True

    _kind = ""
    _answer: Any = None

    def __init__(
        self,
        what: T,
        /,
        rate: float,
        *,
        enabled: bool | Callable[[], object] = True,
        rng: random.Random | None = None,
        clock: Clock | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(None if name is None else _validate.name("name", name))
        self.rate = _validate.probability("rate", rate)
        if not isinstance(enabled, bool) and not callable(enabled):
            raise ConfigError(
                f"enabled={enabled!r} is not allowed; expected a bool or a zero-argument "
                "callable such as chaos.env('BRACE_CHAOS')"
            )
        self._enabled = enabled
        if rng is not None and not isinstance(rng, random.Random):
            raise ConfigError(f"rng={rng!r} is not allowed; expected a random.Random or None")
        self._rng = random.Random() if rng is None else rng  # noqa: S311 - not for security
        self._clock: Clock = _validate.clock("clock", clock)
        self._configure(what)

    def _configure(self, what: T) -> None:
        raise NotImplementedError

    def _inject(self) -> float:
        raise NotImplementedError

    def _decide(self) -> float | None:
        """None to run the call untouched, else what `_inject` says; emits `Injected` if so."""
        enabled = self._enabled
        if enabled is False or (enabled is not True and not enabled()):
            return None
        if self._rng.random() >= self.rate:
            return None
        if self._listeners.active:
            emit(self._listeners, Injected(self.name, self._kind))
        return self._inject()

    def _awrap(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        name, decide, clock, policy = self.name, self._decide, self._clock, self
        direct = not IS_ASYNC and calls_user_code(fn)

        async def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            if _CURRENT.get() is not None:
                check_deadline(name)
            pause = decide()
            if pause is not None:
                if pause < 0.0:
                    answer: R = policy._answer
                    return answer
                await clock.asleep(pause)
            result = await fn(*args, **kwargs)
            if direct and hasattr(result, "__await__"):
                refuse_awaitable(fn, result)
            return result

        return shell(wrapped)

    _wrap = sync_twin(_awrap, "_wrap", asleep="sleep")

    def _config(self) -> dict[str, object]:
        return {"rate": self.rate}

    def __repr__(self) -> str:
        return "brace.chaos." + super().__repr__().removeprefix("brace.")


class Fault(_Chaos[BaseException | Callable[[], BaseException]]):
    """With probability ``rate``, raise ``exception`` instead of running the call.

    Args:
        exception: (positional) An exception instance (a fresh copy is raised each time,
            so notes and tracebacks do not pile up on it), an exception
            class (instantiated with no arguments), or a zero-argument
            callable returning an exception.
        rate: Probability in [0, 1] that a call fails.
        enabled, rng, clock, name: As for every chaos policy (see `brace.chaos`);
            ``name`` defaults to ``"fault"``.
    """

    _kind = "fault"

    def _configure(self, exception: BaseException | Callable[[], BaseException]) -> None:
        if not isinstance(exception, BaseException) and not callable(exception):
            raise ConfigError(
                f"exception={exception!r} is not allowed; expected an exception instance, "
                "an exception class, or a zero-argument callable returning an exception"
            )
        self.exception = exception

    def _inject(self) -> float:
        template = self.exception
        if not isinstance(template, BaseException):
            raise template()
        try:
            fresh = copy.copy(template)
        except Exception:
            # Some exceptions cannot be rebuilt from their args; raise the one we have.
            fresh = template.with_traceback(None)
        try:
            raise fresh
        finally:
            del fresh, template  # no reference cycle through this frame in the traceback

    def _config(self) -> dict[str, object]:
        return {"exception": self.exception, "rate": self.rate}


class Latency(_Chaos[float | timedelta | Callable[[], float]]):
    """With probability ``rate``, sleep before running the call.

    The sleep goes through the policy's clock (``clock.sleep`` /
    ``clock.asleep``), so a `brace.testing.VirtualClock` makes it instant
    while time still moves; `brace.testing.no_wait` does not skip it.

    Args:
        seconds: (positional) Seconds (or ``timedelta``) >= 0, or a zero-argument callable
            returning seconds (a distribution, e.g. ``lambda: rng.expovariate(5)``);
            negative draws sleep 0.
        rate: Probability in [0, 1] that a call is delayed.
        enabled, rng, clock, name: As for every chaos policy (see `brace.chaos`);
            ``name`` defaults to ``"latency"``.
    """

    _kind = "latency"

    def _configure(self, seconds: float | timedelta | Callable[[], float]) -> None:
        if callable(seconds):
            self._draw: Callable[[], float] = seconds
            self.seconds: float | Callable[[], float] = seconds
        else:
            fixed = _validate.duration("seconds", seconds)
            self._draw = lambda: fixed
            self.seconds = fixed

    def _inject(self) -> float:
        return max(float(self._draw()), 0.0)

    def _config(self) -> dict[str, object]:
        return {"seconds": self.seconds, "rate": self.rate}


class Result(_Chaos[Any]):
    """With probability ``rate``, return ``value`` instead of running the call.

    Args:
        value: (positional) What the call returns when the policy fires.
        rate: Probability in [0, 1] that a call is answered with ``value``.
        enabled, rng, clock, name: As for every chaos policy (see `brace.chaos`);
            ``name`` defaults to ``"result"``.
    """

    _kind = "result"

    def _configure(self, value: Any) -> None:
        self.value = self._answer = value

    def _inject(self) -> float:
        return _ANSWER

    def _config(self) -> dict[str, object]:
        return {"value": self.value, "rate": self.rate}
