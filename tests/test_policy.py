"""The Policy base and pipeline(): decoration, sync/async dispatch, composition, control flow."""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from unittest.mock import AsyncMock

import pytest

import brace
from brace._policy import CONTROL_FLOW
from brace.testing import VirtualClock
from tests.conftest import Driver


class Recording(brace.Policy):
    """Passes calls through, recording entry order and counting failures it saw."""

    def __init__(self, name: str, log: list[str] | None = None) -> None:
        super().__init__(name)
        self.log = log if log is not None else []
        self.failures = 0
        self.limit = 3

    # The contract a user's policy implements: one sync and one async shell.

    def _wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            self.log.append(self.name)
            try:
                return fn(*args, **kwargs)
            except Exception:
                self.failures += 1
                raise

        return wrapped

    def _awrap(self, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        async def wrapped(*args: Any, **kwargs: Any) -> Any:
            self.log.append(self.name)
            try:
                return await fn(*args, **kwargs)
            except Exception:
                self.failures += 1
                raise

        return wrapped

    def _config(self) -> dict[str, object]:
        return {"limit": self.limit}


def add(a: int, b: int = 0) -> int:
    """Add two numbers."""
    return a + b


async def aadd(a: int, b: int = 0) -> int:
    """Add two numbers, asynchronously."""
    return a + b


# -- decoration ------------------------------------------------------------------------------


def test_decorator_keeps_metadata_and_signature() -> None:
    wrapped = Recording("r")(add)
    assert wrapped.__name__ == "add"
    assert wrapped.__doc__ == "Add two numbers."
    assert add is wrapped.__wrapped__  # type: ignore[attr-defined]
    assert inspect.signature(add) == inspect.signature(wrapped)
    assert wrapped(2, b=3) == 5


def test_decorating_a_coroutine_function_gives_a_coroutine_function() -> None:
    wrapped = Recording("r")(aadd)
    assert inspect.iscoroutinefunction(wrapped)
    assert asyncio.run(wrapped(2, 3)) == 5


def test_async_callable_object_is_detected() -> None:
    class Fetch:
        async def __call__(self, x: int) -> int:
            return x * 2

    wrapped = Recording("r")(Fetch())
    assert asyncio.run(wrapped(4)) == 8


def test_driver_runs_both_shells(driver: Driver) -> None:
    policy = Recording("r")
    assert driver.run(policy, add, 3, b=4) == 7
    assert driver.call(policy, add, 3, b=4) == 7
    assert policy.log == ["r", "r"]


def test_methods_staticmethods_and_classmethods() -> None:
    policy = Recording("r")

    class Service:
        factor = 10

        def __init__(self) -> None:
            self.base = 1

        @policy
        def method(self, x: int) -> int:
            return self.base + x

        @policy
        @staticmethod
        def static(x: int) -> int:
            return x * 2

        @policy
        @classmethod
        def klass(cls, x: int) -> int:
            return cls.factor * x

        @staticmethod
        @policy
        def static_outer(x: int) -> int:
            return x * 3

        @classmethod
        @policy
        def klass_outer(cls, x: int) -> int:
            return cls.factor + x

        @policy
        async def amethod(self, x: int) -> int:
            return self.base - x

    svc = Service()
    assert svc.method(2) == 3
    assert Service.static(2) == 4
    assert svc.static(2) == 4
    assert Service.klass(2) == 20
    assert Service.static_outer(2) == 6
    assert Service.klass_outer(2) == 12
    assert asyncio.run(svc.amethod(2)) == -1
    assert len(policy.log) == 7


def test_generator_functions_are_refused_at_decoration() -> None:
    def gen() -> Generator[int, None, None]:
        yield 1

    async def agen() -> Any:
        yield 1

    with pytest.raises(TypeError, match="generator"):
        Recording("r")(gen)
    with pytest.raises(TypeError, match="generator"):
        Recording("r")(agen)
    with pytest.raises(TypeError, match="generator"):
        brace.pipeline()(gen)


def test_decorating_a_non_callable_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="callable; got 42"):
        Recording("r")(42)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="callable"):
        brace.pipeline()("not a function")  # type: ignore[call-overload]


def test_policy_name_must_be_a_non_empty_string() -> None:
    with pytest.raises(brace.ConfigError, match="name=''"):
        Recording("")
    assert brace.Policy().name == "policy"  # unnamed policies take their lowercased type name


# -- pipeline ------------------------------------------------------------------------------


def test_pipeline_runs_policies_outermost_first(driver: Driver) -> None:
    log: list[str] = []
    policy = brace.pipeline(
        Recording("outer", log), Recording("middle", log), Recording("inner", log)
    )
    assert driver.run(policy, add, 1, 2) == 3
    assert log == ["outer", "middle", "inner"]
    log.clear()
    assert driver.call(policy, add, 1, 2) == 3
    assert log == ["outer", "middle", "inner"]


def test_nested_pipelines_flatten() -> None:
    a, b, c = Recording("a"), Recording("b"), Recording("c")
    nested = brace.pipeline(a, brace.pipeline(b, brace.pipeline(c)))
    assert (a, b, c) == nested.policies
    assert len(nested) == 3
    assert [a, b, c] == list(nested)


def test_empty_pipeline_returns_the_function_itself() -> None:
    assert add is brace.pipeline()(add)
    assert aadd is brace.pipeline()(aadd)
    assert brace.pipeline().call(add, 1, 2) == 3
    assert asyncio.run(brace.pipeline().acall(aadd, 1, 2)) == 3


def test_pipeline_of_one_behaves_like_the_policy(driver: Driver) -> None:
    log: list[str] = []
    policy = Recording("only", log)
    alone = driver.run(policy, add, 1, 1)
    piped = driver.run(brace.pipeline(policy), add, 1, 1)
    assert alone == piped
    assert log == ["only", "only"]

    def boom() -> None:
        raise ValueError("x")

    with pytest.raises(ValueError, match="x"):
        driver.run(brace.pipeline(policy), boom)
    assert policy.failures == 1


def test_pipeline_rejects_non_policies() -> None:
    with pytest.raises(TypeError, match=r"argument 1 is 'x'; expected a brace policy"):
        brace.pipeline("x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="argument 2 is None"):
        brace.pipeline(Recording("a"), None)  # type: ignore[arg-type]


def test_pipeline_describes_itself() -> None:
    policy = brace.pipeline(Recording("a"), Recording("b"))
    assert policy.describe() == [
        {"policy": "Recording", "name": "a", "limit": 3},
        {"policy": "Recording", "name": "b", "limit": 3},
    ]
    assert (
        repr(policy)
        == "brace.pipeline(brace.Recording('a', limit=3), brace.Recording('b', limit=3))"
    )
    assert Recording("a").describe() == {"policy": "Recording", "name": "a", "limit": 3}


def test_pipeline_listen_receives_events_of_every_member() -> None:
    a, b = Recording("a"), Recording("b")
    seen: list[str] = []
    with brace.pipeline(a, b).listen(lambda e: seen.append(e.policy)):
        brace._events.emit(a._listeners, brace.Event("a"))
        brace._events.emit(b._listeners, brace.Event("b"))
    brace._events.emit(a._listeners, brace.Event("a"))
    assert seen == ["a", "b"]


# -- control flow --------------------------------------------------------------------------


@pytest.mark.parametrize("exc_type", CONTROL_FLOW)
def test_control_flow_exceptions_pass_through_uncounted(exc_type: type[BaseException]) -> None:
    policy = brace.pipeline(Recording("a"), Recording("b"))

    def stop() -> None:
        raise exc_type

    with pytest.raises(exc_type):
        policy(stop)()
    assert all(p.failures == 0 for p in policy.policies)  # type: ignore[attr-defined]


@pytest.mark.parametrize("exc_type", CONTROL_FLOW)
def test_control_flow_exceptions_pass_through_async(exc_type: type[BaseException]) -> None:
    policy = brace.pipeline(Recording("a"), Recording("b"))
    raised = exc_type()

    async def stop() -> None:
        raise raised

    async def main() -> BaseException | None:
        try:
            await policy(stop)()
        except BaseException as exc:
            return exc
        return None

    assert raised is asyncio.run(main())
    assert all(p.failures == 0 for p in policy.policies)  # type: ignore[attr-defined]


def test_exceptions_are_not_wrapped(driver: Driver) -> None:
    error = KeyError("k")

    def fail() -> None:
        raise error

    with pytest.raises(KeyError) as info:
        driver.run(brace.pipeline(Recording("a"), Recording("b")), fail)
    assert error is info.value


# -- concurrency -----------------------------------------------------------------------------


def test_one_wrapped_function_from_threads_and_an_event_loop_at_once() -> None:
    policy = Recording("shared")
    barrier = threading.Barrier(3, timeout=10)

    @policy
    def work(x: int) -> int:
        barrier.wait()
        return x + 1

    @policy
    async def awork(x: int) -> int:
        return x * 10

    async def loop_side() -> list[int]:
        results = await asyncio.gather(*(awork(i) for i in range(50)))
        barrier.wait()
        return list(results)

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(work, i) for i in (1, 2)]
        async_results = asyncio.run(loop_side())
        thread_results = [f.result(timeout=10) for f in futures]
    assert thread_results == [2, 3]
    assert [i * 10 for i in range(50)] == async_results
    assert len(policy.log) == 52


def test_call_and_acall_on_a_plain_function_reference() -> None:
    policy = Recording("r")
    part = functools.partial(add, 1)
    assert policy.call(part, 2) == 3
    assert asyncio.run(policy.acall(functools.partial(aadd, 1), 2)) == 3


# -- call() and acall() refuse what they cannot protect, before running anything ------------


def every_policy() -> list[brace.Policy]:
    clock = VirtualClock()
    return [
        brace.Retry(attempts=3, clock=clock),
        brace.CircuitBreaker("b", consecutive_failures=1, clock=clock),
        brace.Bulkhead("k", max_concurrent=1),
        brace.Timeout(1.0),
        brace.RateLimiter("r", rate=100),
        brace.Throttle(),
        brace.Fallback(["fallback"]),
        brace.LastGood(60.0),
        brace.pipeline(brace.Retry(attempts=2, clock=clock), brace.Bulkhead(max_concurrent=1)),
    ]


@pytest.mark.parametrize("policy", every_policy(), ids=repr)
async def test_acall_with_a_sync_function_is_a_type_error_before_it_runs(
    policy: brace.Policy,
) -> None:
    ran: list[int] = []

    def charge() -> int:
        ran.append(1)
        return 1

    with pytest.raises(TypeError, match="synchronous"):
        await policy.acall(charge)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="synchronous"):
        await policy.acall(lambda: charge())  # type: ignore[arg-type,return-value]  # noqa: PLW0108
    assert ran == []


@pytest.mark.parametrize("policy", every_policy(), ids=repr)
def test_call_with_an_async_function_is_a_type_error_before_it_runs(
    policy: brace.Policy,
) -> None:
    async def fetch() -> int:
        return 1

    with pytest.raises(TypeError, match=r"acall"):
        policy.call(fetch)  # type: ignore[unused-coroutine]


@pytest.mark.parametrize("policy", every_policy(), ids=repr)
def test_call_with_a_generator_function_is_refused_as_decoration_is(
    policy: brace.Policy,
) -> None:
    def stream() -> Iterator[int]:
        yield 1

    async def astream() -> AsyncIterator[int]:
        yield 1

    with pytest.raises(TypeError, match="generator function"):
        policy.call(stream)
    with pytest.raises(TypeError, match="generator function"):
        asyncio.run(policy.acall(astream))  # type: ignore[arg-type]


@pytest.mark.parametrize("policy", every_policy(), ids=repr)
def test_a_sync_call_returning_an_awaitable_is_a_type_error(policy: brace.Policy) -> None:
    checkpoint = brace.SystemClock().asleep

    def sneaky() -> Any:
        return checkpoint(0.5)

    with pytest.raises(TypeError, match="returned the awaitable"):
        policy.call(sneaky)
    with pytest.raises(TypeError, match="returned the awaitable"):
        policy(sneaky)()


def test_an_awaitable_result_is_never_recorded_as_a_success() -> None:
    breaker = brace.CircuitBreaker("b", consecutive_failures=1)
    retry = brace.Retry(attempts=3, backoff=[0.0, 0.0])
    calls = 0
    checkpoint = brace.SystemClock().asleep

    @brace.pipeline(retry, breaker)
    def sneaky() -> Any:
        nonlocal calls
        calls += 1
        return checkpoint(0.5)

    with pytest.raises(TypeError):
        sneaky()
    assert calls == 1  # a programming error: retried by nobody
    assert breaker.metrics().calls == 0  # neither a success nor a failure of the dependency


def test_objects_with_an_async_call_and_mocks_are_async_callables() -> None:
    class Client:
        async def __call__(self) -> int:
            return 7

    policy = brace.Retry(attempts=1)
    assert asyncio.run(policy.acall(Client())) == 7
    assert asyncio.run(policy.acall(AsyncMock(return_value=8))) == 8


def test_a_class_whose_instances_are_async_callables_is_constructed_synchronously() -> None:
    built = 0

    class Handler:
        def __init__(self) -> None:
            nonlocal built
            built += 1

        async def __call__(self) -> int:
            return 1

    wrapped = brace.Retry(attempts=2)(Handler)
    instance = wrapped()
    assert isinstance(instance, Handler)
    assert built == 1


def test_a_policy_written_for_the_earlier_run_hooks_still_works() -> None:
    class Legacy(brace.Policy):
        def __init__(self) -> None:
            super().__init__("legacy")
            self.calls = 0

        def _run(self, fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
            self.calls += 1
            return fn(*args, **kwargs)

        async def _arun(self, fn: Callable[..., Awaitable[Any]], args: Any, kwargs: Any) -> Any:
            self.calls += 1
            return await fn(*args, **kwargs)

    legacy = Legacy()
    assert legacy(add)(1, b=2) == 3
    assert asyncio.run(legacy(aadd)(1, b=2)) == 3
    assert legacy.calls == 2
    with pytest.raises(NotImplementedError, match="no _wrap"):
        brace.Policy("bare")(add)
