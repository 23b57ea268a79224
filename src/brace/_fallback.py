"""Fallback: when a call fails, let an alternative, or a chain of them, answer.

The decisions live in one generator, `Fallback._flow`: given the failure, it
walks the chain, answers from plain values and `LastGood` caches itself, and
yields each callable alternative to the shells of `brace._substitute`, which
run it (awaiting it in the asyncio shell) and send back the outcome. The
generator returns the answer, or re-raises the original failure with one note
per alternative.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from brace import _validate
from brace._calls import AwaitableResultError, is_async_callable
from brace._clock import Clock
from brace._errors import ConfigError, RejectedError, set_note
from brace._events import FallbackUsed, emit
from brace._flow import Flow
from brace._last_good import LastGood
from brace._policy import Args, Kwargs, Policy
from brace._substitute import Alternative, Kind, Substitute
from brace._validate import ExceptionFilter

__all__ = ["Fallback"]

P = ParamSpec("P")
R = TypeVar("R")


def _label(target: object) -> str:
    if isinstance(target, LastGood):
        return f"LastGood {target.name!r}"
    name = getattr(target, "__qualname__", None) or type(target).__name__
    return str(name)


def _chain(alternatives: object) -> tuple[Alternative, ...]:
    items = alternatives if isinstance(alternatives, list) else [alternatives]
    if not items:
        raise ConfigError(
            "alternatives=[] is an empty chain; expected a value, a callable, a LastGood, "
            "or a non-empty list of them (to fall back to an empty list, write [[]])"
        )
    chain: list[Alternative] = []
    for level, item in enumerate(items, 1):
        if chain and chain[-1].kind is Kind.VALUE:
            raise ConfigError(
                f"alternatives[{level - 1}]={item!r} can never run: alternative {level - 1} "
                f"is the plain value {chain[-1].target!r}, which always answers; "
                "put plain values last"
            )
        if isinstance(item, LastGood):
            chain.append(Alternative(level, Kind.CACHE, item, _label(item)))
        elif isinstance(item, Policy):
            raise ConfigError(
                f"alternatives[{level - 1}]={item!r} is a policy; expected a value, a callable "
                "with the protected function's signature, or a LastGood (decorate the "
                "alternative function with the policy instead)"
            )
        elif callable(item):
            kind = Kind.ASYNC if is_async_callable(item) else Kind.SYNC
            chain.append(Alternative(level, kind, item, _label(item)))
        else:
            chain.append(Alternative(level, Kind.VALUE, item, repr(item)))
    return tuple(chain)


class Fallback(Substitute):
    """When the call fails, answer from an alternative, or the first of a chain that succeeds.

    A failure is an exception matching ``on`` (any `brace.RejectedError`
    always counts: an open breaker or a timeout is what fallbacks are for) or
    a result for which ``on_result`` returns true. Alternatives are tried in
    turn, each with the call's original arguments:

    * a plain value is returned as it is (so it must come last);
    * a callable with the protected function's signature is called (inside
      it, ``sys.exception()`` is the failure being handled); for an async
      call it may be sync or async, for a sync call it must be sync;
    * a `brace.LastGood` serves the last good result of the protected call
      for these arguments, if fresh; it learns every success of the call.

    An alternative that raises, returns a result ``on_result`` rejects, or
    (LastGood) has nothing fresh, passes to the next. When every one fails,
    the original exception is re-raised with a note per alternative; a
    rejected original result is returned as it is. Control flow
    (cancellation, ``KeyboardInterrupt``) is never handled.

    A Fallback does not check the deadline on entry: a
    `brace.TimeoutExceededError` from inside is a failure like any other, so
    an expired deadline serves the alternative. Each use emits
    `brace.FallbackUsed` with the level (1 = first alternative) that answered.

    Args:
        alternatives: One alternative, or a non-empty list tried in order.
            A list is always a chain: to fall back to a list value, wrap it
            (``[[]]``).
        on: Exception types, a tuple of them, or a predicate taking the
            exception, that trigger the fallback. Default ``Exception``.
        on_result: Predicate on a result that makes it a failure too.
            Default ``None`` (results are never failures).
        clock: Accepted for symmetry with other policies; a fallback never waits.
        name: Used in events and notes. Default ``"fallback"``.
    """

    def __init__(
        self,
        alternatives: object,
        *,
        on: ExceptionFilter = Exception,
        on_result: Callable[[Any], object] | None = None,
        clock: Clock | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(None if name is None else _validate.name("name", name))
        self._chain = _chain(alternatives)
        self._on = _validate.exception_matcher("on", on)
        if on_result is not None and not callable(on_result):
            raise ConfigError(
                f"on_result={on_result!r} is not callable; expected a predicate taking "
                "the result, or None"
            )
        self._on_result = on_result
        self._clock = _validate.clock("clock", clock)
        self._learners = tuple(alt.target for alt in self._chain if alt.kind is Kind.CACHE)
        self._has_async = any(alt.kind is Kind.ASYNC for alt in self._chain)
        self._results_stand = on_result is None and not self._learners

    # -- the core: which alternative answers ---------------------------------------------

    def _handles(self, exc: Exception) -> bool:
        if isinstance(exc, AwaitableResultError):
            return False  # a programming error: an alternative would only hide it
        return isinstance(exc, RejectedError) or self._on(exc)

    def _rejects(self, result: object) -> bool:
        return self._on_result is not None and bool(self._on_result(result))

    def _answered(self, alt: Alternative, failure: BaseException | None, value: Any) -> Any:
        if self._listeners.active:
            kind = None if failure is None else type(failure).__name__
            emit(self._listeners, FallbackUsed(self.name, alt.level, kind))
        return value

    def _failed(self, exc: Exception, args: Args, kwargs: Kwargs, box: list[Any]) -> Flow:
        if not self._handles(exc):
            raise exc
        return self._flow(box, exc, None, args, kwargs)

    def _succeeded(self, result: object, args: Args, kwargs: Kwargs, box: list[Any]) -> Flow | None:
        if self._on_result is not None and self._rejects(result):
            return self._flow(box, None, result, args, kwargs)
        for cache in self._learners:
            cache._learn(args, kwargs, result)
        return None

    def _flow(
        self, box: list[Any], failure: Exception | None, result: object, args: Args, kwargs: Kwargs
    ) -> Flow:
        """Walk the chain: answer from values and caches, yield callables to be run."""
        notes: list[tuple[str, str]] = []
        prefix = f"fallback {self.name!r}: alternative"
        for alt in self._chain:
            if alt.kind is Kind.VALUE:
                box[0] = self._answered(alt, failure, alt.target)
                return
            if alt.kind is Kind.CACHE:
                found, value = alt.target._lookup(args, kwargs)
                if found:
                    box[0] = self._answered(alt, failure, value)
                    return
                notes.append((f"{prefix} {alt.level} ", f"({alt.label}) had no fresh value"))
                continue
            yield alt
            ok, value = box[0]
            if ok and not self._rejects(value):
                box[0] = self._answered(alt, failure, value)
                return
            outcome = (
                f"raised {value!r}" if not ok else f"returned {value!r}, rejected by on_result"
            )
            notes.append((f"{prefix} {alt.level} ", f"({alt.label}) {outcome}"))
            del value  # an alternative's exception: not kept alive by this frame
        if failure is None:
            box[0] = result
            return
        for key, note in notes:
            set_note(failure, key + note, key=key)
        try:
            raise failure
        finally:
            del failure  # no reference cycle through this frame in the traceback

    def _config(self) -> dict[str, object]:
        return {"alternatives": [alt.label for alt in self._chain]}
