"""The policy base class and `pipeline()`: the one contract every policy follows.

A policy implements one pair of hooks, ``_wrap(fn)`` and ``_awrap(fn)``, each a shell around
``fn`` that asks the policy's sans-I/O core, runs or awaits the call, and reports the outcome.
Where the shells differ only in ``await``, ``_wrap`` is compiled from ``_awrap`` (`brace._unasync`).
The deadline guard leads every shell: inline in brace's own, added by the base for any other.
The base derives decorating, ``call`` and ``acall`` (shells cached per function); `Pipeline`
nests the hooks, outermost first. Loops that call or sleep more than once (retries, fallback
chains) are flows: generators run by the one pair of drivers in `brace._flow`.
Shells treat ``Exception`` as the outcome and clean up on ``BaseException``: cancellation and
Ctrl-C pass through untouched, and nothing a policy holds is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from types import CodeType
from typing import Any, ClassVar, ParamSpec, TypeVar, cast, overload

from brace import _validate
from brace._calls import CO_COROUTINE, CO_NOT_SYNC, check_call, check_decoratable, is_async_callable
from brace._deadline import _CURRENT, check_deadline
from brace._events import Listener, Subscription
from brace._telemetry import Telemetry
from brace._unasync import sync_twin

__all__ = ["CONTROL_FLOW", "Args", "Kwargs", "Pipeline", "Policy", "pipeline"]

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

_NO_SHELL: tuple[Callable[[], object], Any] = (lambda: None, None)  # matches no function


def _cache(policy: Policy, fn: Any, slot: str, build: Callable[[Any], Any]) -> Any:
    """Build ``fn``'s shell and keep it in ``slot`` for the next call with the same ``fn``.

    One entry per policy and kind, keyed by a weak reference, so repeated
    ``policy.call(f, ...)`` pays for its shell once and nothing is kept alive.
    """
    shell = build(fn)
    with contextlib.suppress(TypeError):  # not weakly referenceable (a builtin): no cache
        setattr(policy, slot, (weakref.ref(fn), shell))
    return shell


class Policy:
    """Base of every brace policy: a decorator and a runner for single calls.

    Use an instance as ``@policy`` on a function, method or coroutine
    function, or run one call with ``policy.call(fn, *args, **kwargs)`` /
    ``await policy.acall(fn, *args, **kwargs)``. One instance may be shared
    by threads and by tasks of an event loop.

    Subclasses set ``name`` through ``__init__`` and implement ``_wrap`` and
    ``_awrap``; see the module docstring and "Writing your own policy" in
    ``docs/index.md``.
    """

    name: str
    _listeners: Telemetry
    #: True when the shells handle the deadline themselves (brace's own policies check it
    #: inline; Fallback and LastGood deliberately do not); otherwise the base adds the guard.
    _guards_deadline: ClassVar[bool] = False
    #: False for compositions (Pipeline): `brace.policies()` lists their members instead.
    _listed: ClassVar[bool] = True

    def __init__(self, name: str | None = None) -> None:
        self.name = type(self).__name__.lower() if name is None else _validate.name("name", name)
        # Listeners plus brace's own telemetry; a policy given a name is listed in brace.policies().
        self._listeners = Telemetry(self, listed=name is not None and self._listed)
        self._sync_shell = self._async_shell = _NO_SHELL

    # -- the subclass hooks -------------------------------------------------------------

    def _wrap(self, fn: Callable[P, R]) -> Callable[P, R]:
        """The synchronous shell: ``fn`` run under this policy, with ``fn``'s signature.

        A subclass written for the earlier hook ``_run(fn, args, kwargs)`` still works:
        its ``_run`` becomes the shell.
        """
        run = getattr(self, "_run", None)
        if run is None:
            raise NotImplementedError(f"{type(self).__name__} implements no _wrap(fn)")

        def shell(*args: P.args, **kwargs: P.kwargs) -> R:
            return run(fn, args, kwargs)  # type: ignore[no-any-return]

        return shell

    def _awrap(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        """The asyncio shell: ``fn`` awaited under this policy, with ``fn``'s signature.

        A subclass written for the earlier hook ``async _arun(fn, args, kwargs)`` still
        works: its ``_arun`` becomes the shell.
        """
        arun = getattr(self, "_arun", None)
        if arun is None:
            raise NotImplementedError(f"{type(self).__name__} implements no _awrap(fn)")

        async def shell(*args: P.args, **kwargs: P.kwargs) -> R:
            return await arun(fn, args, kwargs)  # type: ignore[no-any-return]

        return shell

    def _config(self) -> dict[str, object]:
        """Plain-value configuration, shown by ``repr`` and ``describe()``."""
        return {}

    # -- derived: decorating and running ------------------------------------------------

    def _shell(self, fn: Callable[P, R]) -> Callable[P, R]:
        """``_wrap(fn)``, with the deadline guard in front unless the shell has it."""
        shell = self._wrap(fn)
        return shell if self._guards_deadline else _guard(shell, self.name)

    def _ashell(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        """``_awrap(fn)``, with the deadline guard in front unless the shell has it."""
        shell = self._awrap(fn)
        return shell if self._guards_deadline else _aguard(shell, self.name)

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
        check_decoratable(fn, repr(self))
        if isinstance(self, Pipeline) and not self.policies:
            return fn  # a pipeline of no policies: the function itself
        wrapped = self._ashell(fn) if is_async_callable(fn) else self._shell(fn)
        return functools.wraps(fn)(wrapped)

    def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run one synchronous call under this policy without decorating ``fn``.

        Raises:
            TypeError: ``fn`` is async or a generator function (before anything runs).
        """
        code = getattr(fn, "__code__", None)  # inlined: one flag test for a plain function
        if type(code) is not CodeType or code.co_flags & CO_NOT_SYNC:
            check_call(fn, self, awaited=False)
        ref, shell = self._sync_shell
        if ref() is not fn:
            shell = _cache(self, fn, "_sync_shell", self._shell)
        return shell(*args, **kwargs)  # type: ignore[no-any-return]

    async def acall(self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Await one call of the coroutine function ``fn`` under this policy.

        Raises:
            TypeError: ``fn`` is synchronous or a generator function (before anything runs).
        """
        code = getattr(fn, "__code__", None)  # inlined: one flag test for an async def
        if type(code) is not CodeType or code.co_flags & CO_NOT_SYNC != CO_COROUTINE:
            check_call(fn, self, awaited=True)
        ref, shell = self._async_shell
        if ref() is not fn:
            shell = _cache(self, fn, "_async_shell", self._ashell)
        return await shell(*args, **kwargs)  # type: ignore[no-any-return]

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
        for index, policy in enumerate(policies):
            if not isinstance(policy, Policy) or isinstance(policy, Pipeline):
                raise TypeError(
                    f"Pipeline() policy {index + 1} is {policy!r}; expected a brace policy "
                    "(build pipelines with brace.pipeline(), which flattens nested ones)"
                )
        self.policies = policies

    _guards_deadline: ClassVar[bool] = True  # each policy inside guards its own entry

    def _wrap(self, fn: Callable[P, R]) -> Callable[P, R]:
        for policy in reversed(self.policies):
            fn = policy._shell(fn)
        return fn

    def _awrap(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        wrapped: Callable[P, Awaitable[R]] = fn
        for policy in reversed(self.policies):
            wrapped = policy._ashell(wrapped)
        return cast("Callable[P, Coroutine[Any, Any, R]]", wrapped)

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


def _aguard(shell: Callable[P, Awaitable[R]], name: str) -> Callable[P, Coroutine[Any, Any, R]]:
    """``shell`` behind the deadline check every policy makes when a call enters it."""

    async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        if _CURRENT.get() is not None:
            check_deadline(name)
        return await shell(*args, **kwargs)

    return guarded


_guard: Callable[[Callable[P, R], str], Callable[P, R]] = sync_twin(_aguard, "_guard")


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
