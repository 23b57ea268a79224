"""What kind of callable a policy was handed, and what it returned.

The base class asks here whether a function is async, a generator function
or sync, refuses what ``call``/``acall`` cannot protect before anything
runs, and lets a synchronous shell refuse an awaitable result (work that
would otherwise run later, outside every policy).
"""

from __future__ import annotations

import inspect
from types import CodeType
from typing import TypeVar

__all__ = [
    "CO_COROUTINE",
    "CO_NOT_SYNC",
    "AwaitableResultError",
    "calls_user_code",
    "check_call",
    "check_decoratable",
    "is_async_callable",
    "refuse_awaitable",
    "shell",
]

T = TypeVar("T")


def is_async_callable(fn: object) -> bool:
    """Whether calling ``fn`` gives a coroutine: a coroutine function or an async ``__call__``."""
    if inspect.isclass(fn):
        return False  # calling a class builds an instance, whatever its instances' __call__ is
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004 - we need the bound __call__, not callable()
    return call is not None and not inspect.isfunction(fn) and inspect.iscoroutinefunction(call)


_SYNC, _ASYNC, _GENERATOR = 0, 1, 2
_CO_GENERATORS = inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR
_CO_COROUTINE = inspect.CO_COROUTINE
#: Code flags of anything that is not a plain synchronous function.
CO_NOT_SYNC = _CO_GENERATORS | _CO_COROUTINE
#: ``code.co_flags & CO_NOT_SYNC`` of a plain ``async def``.
CO_COROUTINE = _CO_COROUTINE


def _kind(fn: object) -> int:
    """`_SYNC`, `_ASYNC` or `_GENERATOR`; a plain function or method is read off its code flags."""
    code = getattr(fn, "__code__", None)
    if type(code) is CodeType:
        flags = code.co_flags
        if flags & _CO_GENERATORS:
            return _GENERATOR
        return _ASYNC if flags & _CO_COROUTINE else _SYNC
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        return _GENERATOR
    return _ASYNC if is_async_callable(fn) else _SYNC


def _generator_error(fn: object, what: str) -> TypeError:
    return TypeError(
        f"{what} cannot wrap the generator function {fn!r}: a generator runs after the "
        "policy returns, and retrying or timing out a half-consumed stream is not safe. "
        "Wrap the function that opens the stream, or use breaker.guard() around the loop."
    )


def check_decoratable(fn: object, what: str) -> None:
    if not callable(fn):
        raise TypeError(f"{what} can only decorate a callable; got {fn!r}")
    if _kind(fn) == _GENERATOR:
        raise _generator_error(fn, what)


def check_call(fn: object, policy: object, *, awaited: bool) -> None:
    """Refuse, before anything runs, what ``call()`` (``acall()``: ``awaited``) cannot protect."""
    kind = _kind(fn)
    if kind == (_ASYNC if awaited else _SYNC):
        return
    what = repr(policy)
    if kind == _GENERATOR:
        raise _generator_error(fn, what)
    if awaited:
        raise TypeError(
            f"{what}.acall() needs a coroutine function (async def) or an object with an async "
            f"__call__; {fn!r} is synchronous. Use policy.call(fn, ...) for sync code, or pass "
            "the async function itself and its arguments: acall(fetch, url), not "
            "acall(lambda: fetch(url))"
        )
    raise TypeError(
        f"{what}.call() cannot run {fn!r}: it is async, and calling it would only create "
        "a coroutine that runs later, outside the policy. Use `await policy.acall(fn, ...)`"
    )


def shell(wrapper: T) -> T:
    """Mark ``wrapper`` as a policy's own: a policy around it needs no awaitable-result check."""
    wrapper.__brace_shell__ = True  # type: ignore[attr-defined]
    return wrapper


def calls_user_code(fn: object) -> bool:
    """Whether ``fn`` is the user's code rather than a wrapper some policy built (`shell`)."""
    return not getattr(fn, "__brace_shell__", False)


def refuse_awaitable(fn: object, result: object, *, direct: bool | None = None) -> None:
    """Raise `TypeError` if ``result``, returned by a sync call of ``fn``, is an awaitable.

    Shells call this only for a result with an ``__await__`` attribute (a
    cheap test); the type is checked here, since ``await`` looks there.
    ``direct`` says whether ``fn`` is the user's code (default: find out);
    a policy's own wrapper already checked its result.
    """
    if not hasattr(type(result), "__await__"):
        return
    if direct is None:
        direct = calls_user_code(fn)
    if direct:
        raise _awaitable_error(fn, result)


class AwaitableResultError(TypeError):
    """A sync call returned an awaitable: a programming error, never retried or served around."""


def _awaitable_error(fn: object, result: object) -> AwaitableResultError:
    """The error for a synchronous call that returned an awaitable (which would run unprotected)."""
    close = getattr(result, "close", None)
    if inspect.iscoroutine(result) and callable(close):
        close()  # never awaited, on purpose: no "coroutine was never awaited" warning
    return AwaitableResultError(
        f"{fn!r} was called as a synchronous function but returned the awaitable "
        f"{type(result).__name__!r}: the work would run later, outside every policy. "
        "Make it an async def function (the policy then awaits it), or await inside it"
    )
