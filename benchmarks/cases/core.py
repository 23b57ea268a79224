"""Core rows: bare call, the trivial-decorator floor, pipelines, event emission, and peers."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import brace
from benchmarks._harness import BARE, FLOOR, Case
from brace._events import Event, emit


class Noop(brace.Policy):
    """A policy that only passes the call through: the contract's own cost (a user policy,
    so the base adds the deadline guard in front of its shell)."""

    def _wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def passed(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

        return passed

    def _awrap(self, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        async def passed(*args: Any, **kwargs: Any) -> Any:
            return await fn(*args, **kwargs)

        return passed


class NoopEmitting(Noop):
    """Noop plus the guarded emission every policy does on its happy path."""

    def _wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        listeners, name = self._listeners, self.name

        def passed(*args: Any, **kwargs: Any) -> Any:
            result = fn(*args, **kwargs)
            if listeners.active:
                emit(listeners, Event(name))
            return result

        return passed


def trivial(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception:
            raise

    return wrapper


def atrivial(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return await fn(*args, **kwargs)
        except Exception:
            raise

    return wrapper


def f() -> int:
    return 1


async def af() -> int:
    return 1


def _peers_sync() -> list[Case]:
    out: list[Case] = []
    try:
        import tenacity

        out.append(Case("peers", "tenacity @retry (success)", tenacity.retry(f)))
    except ImportError:
        pass
    try:
        import stamina

        out.append(Case("peers", "stamina @retry (success)", stamina.retry(on=Exception)(f)))
    except ImportError:
        pass
    try:
        import backoff

        out.append(
            Case(
                "peers",
                "backoff @on_exception (success)",
                backoff.on_exception(backoff.expo, Exception)(f),
            )
        )
    except ImportError:
        pass
    try:
        import pybreaker

        out.append(Case("peers", "pybreaker (closed, success)", pybreaker.CircuitBreaker()(f)))
    except ImportError:
        pass
    try:
        import circuitbreaker

        out.append(Case("peers", "circuitbreaker (closed, success)", circuitbreaker.circuit(f)))
    except ImportError:
        pass
    return out


def _peers_async() -> list[Case]:
    out: list[Case] = []
    try:
        import tenacity

        out.append(Case("peers", "tenacity @retry (success)", tenacity.retry(af), "async"))
    except ImportError:
        pass
    try:
        import stamina

        out.append(
            Case("peers", "stamina @retry (success)", stamina.retry(on=Exception)(af), "async")
        )
    except ImportError:
        pass
    try:
        import backoff

        out.append(
            Case(
                "peers",
                "backoff @on_exception (success)",
                backoff.on_exception(backoff.expo, Exception)(af),
                "async",
            )
        )
    except ImportError:
        pass
    try:
        import circuitbreaker

        out.append(
            Case("peers", "circuitbreaker (closed, success)", circuitbreaker.circuit(af), "async")
        )
    except ImportError:
        pass
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import aiobreaker

            breaker = aiobreaker.CircuitBreaker()
        out.append(Case("peers", "aiobreaker (closed, success)", breaker(af), "async"))
    except ImportError:
        pass
    try:
        import purgatory

        factory = purgatory.AsyncCircuitBreakerFactory()
        out.append(Case("peers", "purgatory (closed, success)", factory("bench")(af), "async"))
    except ImportError:
        pass
    return out


def cases() -> list[Case]:
    noop = Noop("noop")
    n1, n2, n3 = Noop("a"), Noop("b"), Noop("c")
    stacked = n1(n2(n3(f)))
    astacked = n1(n2(n3(af)))
    return [
        Case("core", BARE, f),
        Case("core", FLOOR, trivial(f)),
        Case("core", "empty brace.pipeline()", brace.pipeline()(f), ref=BARE),
        Case("core", "pipeline(noop)", brace.pipeline(noop)(f), ref=FLOOR),
        Case("core", "noop policy as decorator", noop(f), ref=FLOOR),
        Case(
            "core",
            "pipeline(noop, noop, noop)",
            brace.pipeline(n1, n2, n3)(f),
            ref="3 noop decorators stacked",
        ),
        Case("core", "3 noop decorators stacked", stacked),
        Case(
            "core",
            "noop + event emission, no listener",
            NoopEmitting("e")(f),
            ref="noop policy as decorator",
        ),
        Case("core", "noop.call(f) (undecorated)", functools.partial(noop.call, f), ref=FLOOR),
        *_peers_sync(),
        Case("core", BARE, af, "async"),
        Case("core", FLOOR, atrivial(af), "async"),
        Case("core", "empty brace.pipeline()", brace.pipeline()(af), "async", ref=BARE),
        Case("core", "pipeline(noop)", brace.pipeline(noop)(af), "async", ref=FLOOR),
        Case(
            "core",
            "pipeline(noop, noop, noop)",
            brace.pipeline(n1, n2, n3)(af),
            "async",
            ref="3 noop decorators stacked",
        ),
        Case("core", "3 noop decorators stacked", astacked, "async"),
        *_peers_async(),
    ]
