"""The policy base class and `pipeline()`.

A policy is a decorator, and a runner for undecorated calls (``call`` /
``acall``). Subclasses implement two hooks that receive the next callable in
the chain and its arguments:

* ``_run(fn, args, kwargs)`` for synchronous calls, and
* ``async _arun(fn, args, kwargs)`` for coroutine functions,

each a thin driver around a sans-I/O core. The base picks the hook per call
site (by whether the decorated function is a coroutine function), checks the
deadline on entry, keeps the wrapped signature (``ParamSpec``) and metadata,
and refuses generator functions.

Control flow is never a failure: hooks catch ``Exception`` only, so
`asyncio.CancelledError`, `KeyboardInterrupt`, `SystemExit` and
`GeneratorExit` pass through every brace layer untouched. Hooks that must
clean up on them (give back a permit) use ``try/finally`` or
``except BaseException: ...; raise``.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from types import CodeType
from typing import Any, ClassVar, ParamSpec, TypeVar, cast, overload

from brace import _validate
from brace._deadline import _CURRENT, check_deadline
from brace._events import Listener, Subscription
from brace._telemetry import Telemetry

__all__ = ["CONTROL_FLOW", "Pipeline", "Policy", "pipeline"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

#: Exceptions that end a call but are never a failure: not counted, retried or wrapped.
CONTROL_FLOW: tuple[type[BaseException], ...] = (
    asyncio.CancelledError,
    KeyboardInterrupt,
    SystemExit,
    GeneratorExit,
)

Args = tuple[Any, ...]
Kwargs = dict[str, Any]


def _is_async_callable(fn: object) -> bool:
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
_CO_NOT_SYNC = _CO_GENERATORS | _CO_COROUTINE


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
    return _ASYNC if _is_async_callable(fn) else _SYNC


def _generator_error(fn: object, what: str) -> TypeError:
    return TypeError(
        f"{what} cannot wrap the generator function {fn!r}: a generator runs after the "
        "policy returns, and retrying or timing out a half-consumed stream is not safe. "
        "Wrap the function that opens the stream, or use breaker.guard() around the loop."
    )


def _check_decoratable(fn: object, what: str) -> None:
    if not callable(fn):
        raise TypeError(f"{what} can only decorate a callable; got {fn!r}")
    if _kind(fn) == _GENERATOR:
        raise _generator_error(fn, what)


def _check_sync_call(fn: object, policy: object) -> None:
    """Refuse, before running anything, what ``call()`` cannot protect."""
    code = getattr(fn, "__code__", None)
    if type(code) is CodeType and not code.co_flags & _CO_NOT_SYNC:
        return  # the common case, a plain function or method, on one flag test
    kind = _kind(fn)
    if kind == _SYNC:
        return
    what = repr(policy)
    if kind == _GENERATOR:
        raise _generator_error(fn, what)
    raise TypeError(
        f"{what}.call() cannot run {fn!r}: it is async, and calling it would only create "
        "a coroutine that runs later, outside the policy. Use `await policy.acall(fn, ...)`"
    )


def _check_async_call(fn: object, policy: object) -> None:
    """Refuse, before running anything, what ``acall()`` cannot protect."""
    code = getattr(fn, "__code__", None)
    if type(code) is CodeType and code.co_flags & _CO_NOT_SYNC == _CO_COROUTINE:
        return  # the common case, an async def function or method, on one flag test
    kind = _kind(fn)
    if kind == _ASYNC:
        return
    what = repr(policy)
    if kind == _GENERATOR:
        raise _generator_error(fn, what)
    raise TypeError(
        f"{what}.acall() needs a coroutine function (async def) or an object with an async "
        f"__call__; {fn!r} is synchronous. Use policy.call(fn, ...) for sync code, or pass "
        "the async function itself and its arguments: acall(fetch, url), not "
        "acall(lambda: fetch(url))"
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


class Policy:
    """Base of every brace policy: a decorator and a runner for single calls.

    Use an instance as ``@policy`` on a function, method or coroutine
    function, or run one call with ``policy.call(fn, *args, **kwargs)`` /
    ``await policy.acall(fn, *args, **kwargs)``. One instance may be shared
    by threads and by tasks of an event loop.

    Subclasses set ``name`` through ``__init__`` and implement ``_run`` and
    ``_arun``; see the module docstring for the contract.
    """

    #: False for policies (Fallback) that must run even when the deadline has passed.
    _checks_deadline: ClassVar[bool] = True
    #: False for compositions (Pipeline): `brace.policies()` lists their members instead.
    _listed: ClassVar[bool] = True

    name: str
    _listeners: Telemetry

    def __init__(self, name: str | None = None) -> None:
        self.name = type(self).__name__.lower() if name is None else _validate.name("name", name)
        # Listeners plus brace's own telemetry; a policy given a name is listed in brace.policies().
        self._listeners = Telemetry(self, listed=name is not None and self._listed)

    # -- the subclass hooks -------------------------------------------------------------

    def _run(self, fn: Callable[..., R], args: Args, kwargs: Kwargs) -> R:
        """Run ``fn(*args, **kwargs)`` under this policy (synchronous driver)."""
        raise NotImplementedError

    async def _arun(self, fn: Callable[..., Awaitable[R]], args: Args, kwargs: Kwargs) -> R:
        """Await ``fn(*args, **kwargs)`` under this policy (asyncio driver)."""
        raise NotImplementedError

    def _config(self) -> dict[str, object]:
        """Plain-value configuration, shown by ``repr`` and ``describe()``."""
        return {}

    # -- wrapping -----------------------------------------------------------------------

    def _wrap(self, fn: Callable[P, R]) -> Callable[P, R]:
        run = self._run
        name = self.name
        if not self._checks_deadline:

            def unchecked(*args: P.args, **kwargs: P.kwargs) -> R:
                return run(fn, args, kwargs)

            return shell(unchecked)

        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            if _CURRENT.get() is not None:
                check_deadline(name)
            return run(fn, args, kwargs)

        return shell(wrapped)

    def _awrap(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        arun = self._arun
        name = self.name
        checks = self._checks_deadline

        async def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            if checks and _CURRENT.get() is not None:
                check_deadline(name)
            return await arun(fn, args, kwargs)

        return shell(wrapped)

    @overload
    def __call__(self, fn: classmethod[T, P, R]) -> classmethod[T, P, R]: ...
    @overload
    def __call__(self, fn: staticmethod[P, R]) -> staticmethod[P, R]: ...
    @overload
    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]: ...
    def __call__(self, fn: Any) -> Any:
        """Decorate ``fn`` (sync or coroutine function) so every call runs under this policy."""
        if isinstance(fn, staticmethod):
            return staticmethod(self(fn.__func__))
        if isinstance(fn, classmethod):
            return classmethod(self(fn.__func__))
        _check_decoratable(fn, repr(self))
        wrapped = self._awrap(fn) if _is_async_callable(fn) else self._wrap(fn)
        return functools.wraps(fn)(wrapped)

    def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run one synchronous call under this policy without decorating ``fn``.

        Raises:
            TypeError: ``fn`` is async or a generator function (before anything runs).
        """
        code = getattr(fn, "__code__", None)  # inlined: one flag test for a plain function
        if type(code) is not CodeType or code.co_flags & _CO_NOT_SYNC:
            _check_sync_call(fn, self)
        if self._checks_deadline and _CURRENT.get() is not None:
            check_deadline(self.name)
        return self._run(fn, args, kwargs)

    async def acall(self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Await one call of the coroutine function ``fn`` under this policy.

        Raises:
            TypeError: ``fn`` is synchronous or a generator function (before anything runs).
        """
        code = getattr(fn, "__code__", None)  # inlined: one flag test for an async def
        if type(code) is not CodeType or code.co_flags & _CO_NOT_SYNC != _CO_COROUTINE:
            _check_async_call(fn, self)
        if self._checks_deadline and _CURRENT.get() is not None:
            check_deadline(self.name)
        return await self._arun(fn, args, kwargs)

    # -- observability ------------------------------------------------------------------

    def listen(self, fn: Listener) -> Subscription:
        """Send this policy's events to ``fn``; returns a handle whose ``remove()`` stops it."""
        return Subscription(fn, (self._listeners,))

    def describe(self) -> dict[str, object]:
        """A plain-data description: ``{"policy": type name, "name": ..., **configuration}``."""
        return {"policy": type(self).__name__, "name": self.name, **self._config()}

    def __repr__(self) -> str:
        fields = [f"{self.name!r}"]
        fields += [f"{key}={value!r}" for key, value in self._config().items()]
        return f"brace.{type(self).__name__}({', '.join(fields)})"


class Pipeline(Policy):
    """Policies composed into one, outermost first; build it with `brace.pipeline`.

    Decorating with a pipeline is exactly stacking its policies as separate
    decorators, in the same order, with the wrapping done once.
    """

    policies: tuple[Policy, ...]
    _listed: ClassVar[bool] = False

    def __init__(self, policies: tuple[Policy, ...]) -> None:
        super().__init__("pipeline")
        self.policies = policies

    def _wrap(self, fn: Callable[P, R]) -> Callable[P, R]:
        for policy in reversed(self.policies):
            fn = policy._wrap(fn)
        return fn

    def _awrap(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        wrapped: Callable[P, Awaitable[R]] = fn
        for policy in reversed(self.policies):
            wrapped = policy._awrap(wrapped)
        if not self.policies:
            return cast("Callable[P, Coroutine[Any, Any, R]]", fn)
        return cast("Callable[P, Coroutine[Any, Any, R]]", wrapped)

    @overload
    def __call__(self, fn: classmethod[T, P, R]) -> classmethod[T, P, R]: ...
    @overload
    def __call__(self, fn: staticmethod[P, R]) -> staticmethod[P, R]: ...
    @overload
    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]: ...
    def __call__(self, fn: Any) -> Any:
        """Decorate ``fn``; a pipeline of no policies returns ``fn`` itself."""
        if not self.policies:
            _check_decoratable(fn, repr(self))
            return fn
        return super().__call__(fn)

    def _run(self, fn: Callable[..., R], args: Args, kwargs: Kwargs) -> R:
        return self._wrap(fn)(*args, **kwargs)

    async def _arun(self, fn: Callable[..., Awaitable[R]], args: Args, kwargs: Kwargs) -> R:
        return await self._awrap(fn)(*args, **kwargs)

    def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run one synchronous call through every policy, outermost first."""
        code = getattr(fn, "__code__", None)  # inlined: one flag test for a plain function
        if type(code) is not CodeType or code.co_flags & _CO_NOT_SYNC:
            _check_sync_call(fn, self)
        return self._wrap(fn)(*args, **kwargs)

    async def acall(self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Await one call through every policy, outermost first."""
        code = getattr(fn, "__code__", None)  # inlined: one flag test for an async def
        if type(code) is not CodeType or code.co_flags & _CO_NOT_SYNC != _CO_COROUTINE:
            _check_async_call(fn, self)
        return await self._awrap(fn)(*args, **kwargs)

    def listen(self, fn: Listener) -> Subscription:
        """Send the events of every policy in the pipeline to ``fn``."""
        return Subscription(fn, tuple(p._listeners for p in self.policies))

    def describe(self) -> list[dict[str, object]]:  # type: ignore[override]
        """One `Policy.describe` entry per policy, outermost first."""
        return [policy.describe() for policy in self.policies]

    def __len__(self) -> int:
        return len(self.policies)

    def __iter__(self) -> Any:
        return iter(self.policies)

    def __repr__(self) -> str:
        return f"brace.pipeline({', '.join(repr(p) for p in self.policies)})"


def pipeline(*policies: Policy) -> Pipeline:
    """Compose ``policies`` into one, outermost first.

    The recommended order is fallback, retry, circuit breaker, rate limiter,
    bulkhead, timeout: the breaker sees every attempt and the timeout bounds
    each one. Nested pipelines are flattened. A pipeline of one policy
    behaves exactly like that policy; a pipeline of none returns the
    decorated function unchanged.

    Raises:
        TypeError: an argument is not a brace policy.
    """
    flat: list[Policy] = []
    for index, policy in enumerate(policies):
        if isinstance(policy, Pipeline):
            flat.extend(policy.policies)
        elif isinstance(policy, Policy):
            flat.append(policy)
        else:
            raise TypeError(
                f"pipeline() argument {index + 1} is {policy!r}; expected a brace policy "
                "(CircuitBreaker, Retry, Bulkhead, Timeout, ...) or a pipeline"
            )
    return Pipeline(tuple(flat))
