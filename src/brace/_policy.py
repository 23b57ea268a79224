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
from typing import Any, ClassVar, ParamSpec, TypeVar, cast, overload

from brace._deadline import _CURRENT, check_deadline
from brace._events import Listener, Listeners, Subscription

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
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004 - we need the bound __call__, not callable()
    return call is not None and not inspect.isfunction(fn) and inspect.iscoroutinefunction(call)


def _check_decoratable(fn: object, what: str) -> None:
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise TypeError(
            f"{what} cannot wrap the generator function {fn!r}: a generator runs after the "
            "policy returns, and retrying or timing out a half-consumed stream is not safe. "
            "Wrap the function that opens the stream, or use breaker.guard() around the loop."
        )
    if not callable(fn):
        raise TypeError(f"{what} can only decorate a callable; got {fn!r}")


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

    name: str
    _listeners: Listeners

    def __init__(self, name: str | None = None) -> None:
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"name={name!r} is not allowed; expected a non-empty str")
        self.name = name if name is not None else type(self).__name__.lower()
        self._listeners = Listeners()

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

            return unchecked

        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            if _CURRENT.get() is not None:
                check_deadline(name)
            return run(fn, args, kwargs)

        return wrapped

    def _awrap(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        arun = self._arun
        name = self.name
        checks = self._checks_deadline

        async def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            if checks and _CURRENT.get() is not None:
                check_deadline(name)
            return await arun(fn, args, kwargs)

        return wrapped

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
        """Run one synchronous call under this policy without decorating ``fn``."""
        if self._checks_deadline and _CURRENT.get() is not None:
            check_deadline(self.name)
        return self._run(fn, args, kwargs)

    async def acall(self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Await one call of the coroutine function ``fn`` under this policy."""
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
        return self._wrap(fn)(*args, **kwargs)

    async def acall(self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Await one call through every policy, outermost first."""
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
