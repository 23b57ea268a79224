"""Fault injection: policies that make calls fail, slow down or lie, on purpose.

`Fault`, `Latency` and `Result` are ordinary pipeline members: put one
innermost (next to the call) to see how the policies around it cope. Each
fires with probability ``rate``, drawn from a seedable ``rng``, and only
while ``enabled`` is true, so one pipeline runs clean in production and
faulty in staging::

    from brace import chaos

    flaky = chaos.Fault(ConnectionError("injected"), 0.1, enabled=chaos.env("BRACE_CHAOS"))
    policy = brace.pipeline(brace.Retry(attempts=3), flaky)

Each injection emits `Injected`.
"""

from __future__ import annotations

import copy
import os
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from brace import _validate
from brace._clock import SYSTEM_CLOCK, Clock
from brace._errors import ConfigError
from brace._events import GLOBAL, Event, emit
from brace._policy import Args, Kwargs, Policy

__all__ = ["Fault", "Injected", "Latency", "Result", "env"]

R = TypeVar("R")

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


class _Chaos(Policy):
    """Shared by the chaos policies: the enabled switch and the weighted coin."""

    _kind = ""

    def __init__(
        self,
        rate: float,
        *,
        enabled: bool | Callable[[], object],
        rng: random.Random | None,
        clock: Clock | None,
        name: str | None,
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
        self._clock: Clock = SYSTEM_CLOCK if clock is None else clock

    def _fires(self) -> bool:
        """Decide whether this call gets the injection; emits `Injected` when it does."""
        enabled = self._enabled
        if enabled is False or (enabled is not True and not enabled()):
            return False
        if self._rng.random() >= self.rate:
            return False
        if self._listeners.subs or GLOBAL.subs:
            emit(self._listeners, Injected(self.name, self._kind))
        return True

    def _config(self) -> dict[str, object]:
        return {"rate": self.rate}

    def __repr__(self) -> str:
        return "brace.chaos." + super().__repr__().removeprefix("brace.")


class Fault(_Chaos):
    """With probability ``rate``, raise ``exception`` instead of running the call.

    Args:
        exception: An exception instance (a fresh copy is raised each time,
            so notes and tracebacks do not pile up on it), an exception
            class (instantiated with no arguments), or a zero-argument
            callable returning an exception.
        rate: Probability in [0, 1] that a call fails.
        enabled: A bool, or a zero-argument callable checked on every call
            (e.g. ``chaos.env("BRACE_CHAOS")``). Default True.
        rng: Source of randomness; seed it for reproducible runs.
        clock: Unused; accepted like every policy's.
        name: Default ``"fault"``.
    """

    _kind = "fault"

    def __init__(
        self,
        exception: BaseException | Callable[[], BaseException],
        rate: float,
        *,
        enabled: bool | Callable[[], object] = True,
        rng: random.Random | None = None,
        clock: Clock | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(rate, enabled=enabled, rng=rng, clock=clock, name=name)
        if not isinstance(exception, BaseException) and not callable(exception):
            raise ConfigError(
                f"exception={exception!r} is not allowed; expected an exception instance, "
                "an exception class, or a zero-argument callable returning an exception"
            )
        self.exception = exception

    def _make(self) -> BaseException:
        template = self.exception
        if not isinstance(template, BaseException):
            return template()
        try:
            return copy.copy(template)
        except Exception:
            # Some exceptions cannot be rebuilt from their args; raise the one we have.
            return template.with_traceback(None)

    def _run(self, fn: Callable[..., R], args: Args, kwargs: Kwargs) -> R:
        if self._fires():
            raise self._make()
        return fn(*args, **kwargs)

    async def _arun(self, fn: Callable[..., Awaitable[R]], args: Args, kwargs: Kwargs) -> R:
        if self._fires():
            raise self._make()
        return await fn(*args, **kwargs)

    def _config(self) -> dict[str, object]:
        return {"exception": self.exception, "rate": self.rate}


class Latency(_Chaos):
    """With probability ``rate``, sleep before running the call.

    The sleep goes through the policy's clock (``clock.sleep`` /
    ``clock.asleep``), so a `brace.testing.VirtualClock` makes it instant
    while time still moves; `brace.testing.no_wait` does not skip it.

    Args:
        seconds: Seconds (or ``timedelta``) >= 0, or a zero-argument callable
            returning seconds (a distribution, e.g. ``lambda: rng.expovariate(5)``);
            negative draws sleep 0.
        rate: Probability in [0, 1] that a call is delayed.
        enabled: A bool or a zero-argument callable checked per call. Default True.
        rng: Source of randomness for the coin; seed it for reproducible runs.
        clock: Where the sleep happens. Default: the system clock.
        name: Default ``"latency"``.
    """

    _kind = "latency"

    def __init__(
        self,
        seconds: float | timedelta | Callable[[], float],
        rate: float,
        *,
        enabled: bool | Callable[[], object] = True,
        rng: random.Random | None = None,
        clock: Clock | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(rate, enabled=enabled, rng=rng, clock=clock, name=name)
        if callable(seconds):
            self._draw: Callable[[], float] = seconds
            self.seconds: float | Callable[[], float] = seconds
        else:
            fixed = _validate.duration("seconds", seconds)
            self._draw = lambda: fixed
            self.seconds = fixed

    def _pause(self) -> float:
        return max(float(self._draw()), 0.0)

    def _run(self, fn: Callable[..., R], args: Args, kwargs: Kwargs) -> R:
        if self._fires():
            self._clock.sleep(self._pause())
        return fn(*args, **kwargs)

    async def _arun(self, fn: Callable[..., Awaitable[R]], args: Args, kwargs: Kwargs) -> R:
        if self._fires():
            await self._clock.asleep(self._pause())
        return await fn(*args, **kwargs)

    def _config(self) -> dict[str, object]:
        return {"seconds": self.seconds, "rate": self.rate}


class Result(_Chaos):
    """With probability ``rate``, return ``value`` instead of running the call.

    Args:
        value: What the call returns when the policy fires.
        rate: Probability in [0, 1] that a call is answered with ``value``.
        enabled: A bool or a zero-argument callable checked per call. Default True.
        rng: Source of randomness; seed it for reproducible runs.
        clock: Unused; accepted like every policy's.
        name: Default ``"result"``.
    """

    _kind = "result"

    def __init__(
        self,
        value: Any,
        rate: float,
        *,
        enabled: bool | Callable[[], object] = True,
        rng: random.Random | None = None,
        clock: Clock | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(rate, enabled=enabled, rng=rng, clock=clock, name=name)
        self.value = value

    def _run(self, fn: Callable[..., R], args: Args, kwargs: Kwargs) -> R:
        if self._fires():
            injected: R = self.value
            return injected
        return fn(*args, **kwargs)

    async def _arun(self, fn: Callable[..., Awaitable[R]], args: Args, kwargs: Kwargs) -> R:
        if self._fires():
            injected: R = self.value
            return injected
        return await fn(*args, **kwargs)

    def _config(self) -> dict[str, object]:
        return {"value": self.value, "rate": self.rate}
