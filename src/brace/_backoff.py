"""Backoff schedules: how long to wait before each retry.

A `Backoff` is a frozen description of a schedule; ``delays(rng)`` turns it
into a fresh iterator of waits in seconds, so one schedule serves any number
of concurrent calls. Everything here is pure: randomness comes from the
``random.Random`` passed in, so a seed reproduces a schedule exactly.

The jitter variants are the four from Marc Brooker's "Exponential Backoff And
Jitter" (AWS Architecture Blog, 2015), with ``d = min(max_delay, initial *
multiplier**n)``:

* ``None``: ``d``
* ``"full"``: ``U(0, d)``
* ``"equal"``: ``d/2 + U(0, d/2)``
* ``"decorrelated"``: ``min(max_delay, U(initial, 3 * previous))``, with
  ``previous`` starting at ``initial`` (``multiplier`` is not used).

Growth is computed by repeated multiplication clamped at the cap, never by
``multiplier ** n``, so ten thousand attempts neither overflow nor exceed
``max_delay``.
"""

from __future__ import annotations

import functools
import itertools
import random
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from brace import _validate
from brace._errors import ConfigError

__all__ = ["Backoff", "Jitter", "as_backoff"]

Jitter = Literal["full", "equal", "decorrelated"] | None
_JITTERS = (None, "full", "equal", "decorrelated")

# Shared default source when the caller injects none; Random's methods are
# atomic under the GIL, so threads may share it.
_DEFAULT_RNG = random.Random()  # noqa: S311 - jitter is not security-sensitive


def _delay_value(param: str, value: object) -> float:
    return _validate.duration(param, value)


class _Replay:
    """A one-shot iterator read lazily and remembered, so every call replays it from the start."""

    __slots__ = ("_done", "_lock", "_param", "_seen", "_source")

    def __init__(self, source: Iterator[object], param: str) -> None:
        self._source = source
        self._param = param
        self._seen: list[float] = []
        self._done = False
        self._lock = threading.Lock()

    def _get(self, index: int) -> float | None:
        with self._lock:
            while len(self._seen) <= index and not self._done:
                try:
                    raw = next(self._source)
                except StopIteration:
                    self._done = True
                    break
                self._seen.append(_delay_value(f"{self._param}[{len(self._seen)}]", raw))
            return self._seen[index] if index < len(self._seen) else None

    def __iter__(self) -> Iterator[float]:
        for index in itertools.count():
            value = self._get(index)
            if value is None:
                return
            yield value


def _validated(values: Iterable[object], param: str = "backoff") -> Iterator[float]:
    for index, raw in enumerate(values):
        yield _delay_value(f"{param}[{index}]", raw)


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """A schedule of waits between attempts; build one with a class method.

    * `Backoff.constant` (``delay``), `Backoff.linear` (``initial``, ``step``,
      ``max_delay=None``), `Backoff.exponential` (``initial=0.1``,
      ``multiplier=2.0``, ``max_delay=10.0``, ``jitter="full"``),
      `Backoff.of` (any iterable of seconds).

    ``delays(rng)`` returns a fresh iterator of waits; the first is
    ``initial`` before jitter. A finite schedule that runs out ends the
    retrying. Wherever brace takes a Backoff it also takes a plain iterable of
    seconds. Frozen and shareable across threads and calls.
    """

    kind: Literal["constant", "linear", "exponential", "sequence"]
    initial: float = 0.0
    step: float = 0.0
    multiplier: float = 1.0
    max_delay: float | None = None
    jitter: Jitter = None
    values: tuple[float, ...] | None = None
    source: Iterable[float] | None = None

    def __post_init__(self) -> None:
        # Direct construction (Backoff(kind=...)) is validated like the class methods.
        if self.kind not in ("constant", "linear", "exponential", "sequence"):
            raise ConfigError(
                f"kind={self.kind!r} is not allowed; expected 'constant', 'linear', "
                "'exponential' or 'sequence' (or build one with Backoff.constant(), ...)"
            )
        _validate.duration("initial", self.initial)
        _validate.duration("step", self.step)
        _validate.number("multiplier", self.multiplier, minimum=1.0)
        if self.max_delay is not None:
            _check_cap(self.initial, _validate.duration("max_delay", self.max_delay))
        if self.jitter not in _JITTERS:
            raise ConfigError(
                f"jitter={self.jitter!r} is not allowed; expected one of "
                "None, 'full', 'equal', 'decorrelated'"
            )
        if self.kind == "exponential" and (self.initial == 0 or self.max_delay is None):
            raise ConfigError(
                f"initial={self.initial!r}, max_delay={self.max_delay!r} are not allowed for an "
                "exponential backoff; expected initial > 0 and a max_delay"
            )
        if self.kind == "sequence" and (self.values is None) == (self.source is None):
            raise ConfigError(
                "a 'sequence' backoff needs exactly one of values= or source=; "
                "build it with Backoff.of(delays)"
            )
        if self.values is not None:
            for index, value in enumerate(self.values):
                _validate.duration(f"values[{index}]", value)

    # -- constructors -------------------------------------------------------------------

    @classmethod
    def constant(cls, delay: float | timedelta) -> Backoff:
        """Wait ``delay`` seconds before every retry.

        Raises:
            ConfigError: ``delay`` is negative, NaN, infinite or not a duration.
        """
        seconds = _validate.duration("delay", delay)
        return cls(kind="constant", initial=seconds)

    @classmethod
    def linear(
        cls,
        initial: float | timedelta,
        step: float | timedelta,
        max_delay: float | timedelta | None = None,
    ) -> Backoff:
        """Wait ``initial``, ``initial + step``, ``initial + 2*step``, ... up to ``max_delay``.

        Args:
            initial: First wait in seconds.
            step: Added to the wait after every retry.
            max_delay: Largest wait; ``None`` (default) for no cap.

        Raises:
            ConfigError: a negative, NaN or infinite duration, or ``max_delay < initial``.
        """
        first = _validate.duration("initial", initial)
        increment = _validate.duration("step", step)
        cap = _validate.optional_duration("max_delay", max_delay)
        _check_cap(first, cap)
        return cls(kind="linear", initial=first, step=increment, max_delay=cap)

    @classmethod
    def exponential(
        cls,
        initial: float | timedelta = 0.1,
        multiplier: float = 2.0,
        max_delay: float | timedelta = 10.0,
        jitter: Jitter = "full",
    ) -> Backoff:
        """Waits growing by ``multiplier`` from ``initial`` up to ``max_delay``, jittered.

        Args:
            initial: First wait before jitter, in seconds, > 0. Default 0.1.
            multiplier: Growth factor per retry, at least 1. Default 2.0.
                Not used by ``"decorrelated"`` jitter, which grows by up to 3x.
            max_delay: Cap on every wait, in seconds. Default 10.0.
            jitter: ``"full"`` (default), ``"equal"``, ``"decorrelated"`` or
                ``None`` (no randomness); see the module docstring.

        Raises:
            ConfigError: a bad duration, ``initial == 0``, ``max_delay < initial``,
                ``multiplier < 1`` or an unknown ``jitter``.
        """
        first = _validate.duration("initial", initial)
        if first == 0:
            raise ConfigError(
                f"initial={initial!r} is not allowed: every wait would be 0 (0 * multiplier "
                "is 0); expected seconds > 0, or Backoff.constant(0) to retry at once"
            )
        cap = _validate.duration("max_delay", max_delay)
        _check_cap(first, cap)
        factor = _validate.number("multiplier", multiplier, minimum=1.0)
        if jitter not in _JITTERS:
            raise ConfigError(
                f"jitter={jitter!r} is not allowed; expected one of "
                "None, 'full', 'equal', 'decorrelated'"
            )
        return cls(
            kind="exponential",
            initial=first,
            multiplier=factor,
            max_delay=cap,
            jitter=jitter,
        )

    @classmethod
    def of(cls, delays: Iterable[float | timedelta]) -> Backoff:
        """Wait the given seconds in order; the retrying ends when they run out.

        A list, tuple or other collection is validated now. A one-shot
        iterator or generator (possibly infinite) is read lazily and
        remembered, so every call sees the same sequence from its start.

        Raises:
            ConfigError: ``delays`` is not iterable, or holds a negative, NaN
                or infinite value (for a lazy iterator: when that value is reached).
        """
        return as_backoff(delays)

    # -- the schedule -------------------------------------------------------------------

    @property
    def finite(self) -> bool:
        """True when the schedule is known to run out (a fixed collection of delays)."""
        return self.values is not None

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """A fresh iterator of waits in seconds; ``rng`` drives jitter (a shared one by default)."""
        if self.kind == "constant":
            return itertools.repeat(self.initial)
        if self.kind == "linear":
            return self._linear()
        if self.kind == "exponential":
            return self._exponential(_DEFAULT_RNG if rng is None else rng)
        if self.values is not None:
            return iter(self.values)
        assert self.source is not None  # noqa: S101 - every constructor sets one
        if isinstance(self.source, _Replay):
            return iter(self.source)
        return _validated(self.source)

    def _factory(self, rng: random.Random | None) -> Callable[[], Iterator[float]]:
        """A zero-argument callable equivalent to ``delays(rng)``, as cheap as possible per call."""
        if self.kind == "constant":
            return functools.partial(itertools.repeat, self.initial)
        if self.values is not None:
            return functools.partial(iter, self.values)
        return functools.partial(self.delays, rng)

    def _linear(self) -> Iterator[float]:
        delay, step, cap = self.initial, self.step, self.max_delay
        while True:
            if cap is not None and delay >= cap:
                yield from itertools.repeat(cap)
            yield delay
            delay += step

    def _exponential(self, rng: random.Random) -> Iterator[float]:
        initial, multiplier, jitter = self.initial, self.multiplier, self.jitter
        cap = self.max_delay
        assert cap is not None  # noqa: S101 - exponential() always sets a cap
        if jitter == "decorrelated":
            previous = initial
            while True:
                previous = min(cap, rng.uniform(initial, 3.0 * previous))
                yield previous
        delay = min(initial, cap)
        uniform = rng.uniform
        while True:
            if jitter is None:
                yield delay
            elif jitter == "full":
                yield uniform(0.0, delay)
            else:
                half = delay / 2.0
                yield half + uniform(0.0, half)
            # Clamped multiplication: never overflows, never exceeds the cap.
            delay = min(cap, delay * multiplier)

    def __repr__(self) -> str:
        if self.kind == "constant":
            return f"Backoff.constant({self.initial!r})"
        if self.kind == "linear":
            return f"Backoff.linear({self.initial!r}, {self.step!r}, max_delay={self.max_delay!r})"
        if self.kind == "exponential":
            return (
                f"Backoff.exponential(initial={self.initial!r}, multiplier={self.multiplier!r}, "
                f"max_delay={self.max_delay!r}, jitter={self.jitter!r})"
            )
        if self.values is not None:
            return f"Backoff.of({list(self.values)!r})"
        return f"Backoff.of({self.source!r})"


def _check_cap(initial: float, cap: float | None) -> None:
    if cap is not None and cap < initial:
        raise ConfigError(
            f"max_delay={cap!r} is out of range; expected max_delay >= initial ({initial!r})"
        )


def _check_iterable(value: object, param: str) -> None:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ConfigError(
            f"{param}={value!r} is not allowed; expected a brace.Backoff or an iterable "
            "of delays in seconds"
        )


def as_backoff(value: object, param: str = "backoff") -> Backoff:
    """A `Backoff` from a Backoff or an iterable of seconds; `ConfigError` naming ``param``."""
    if isinstance(value, Backoff):
        return value
    _check_iterable(value, param)
    if isinstance(value, Iterator):
        return Backoff(kind="sequence", source=_Replay(value, param))
    if isinstance(value, list | tuple | range):
        return Backoff(kind="sequence", values=tuple(_validated(value, param)))
    # A re-iterable (a custom class, itertools.repeat-like objects) is iterated afresh per call.
    return Backoff(kind="sequence", source=value)  # type: ignore[arg-type]
