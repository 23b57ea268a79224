"""Shared fixtures: run one scenario through the sync and the asyncio driver."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Iterator
from typing import Any, Literal, TypeVar

import pytest

import brace
from brace.testing import EventRecorder, VirtualClock

R = TypeVar("R")


class Driver:
    """Runs a plain function under a policy, either directly or as a coroutine function.

    The function under test is always written sync; in ``async`` mode the
    driver wraps it in an ``async def`` so the policy takes its asyncio path.
    """

    def __init__(self, mode: Literal["sync", "async"]) -> None:
        self.mode = mode
        self._runner: asyncio.Runner | None = asyncio.Runner() if mode == "async" else None

    def decorate(self, policy: brace.Policy, fn: Callable[..., R]) -> Callable[..., R]:
        """``policy(fn)`` as a plain callable, whichever the mode."""
        if self._runner is None:
            return policy(fn)

        async def afn(*args: Any, **kwargs: Any) -> R:
            return fn(*args, **kwargs)

        wrapped = policy(afn)
        runner = self._runner

        def run(*args: Any, **kwargs: Any) -> R:
            # A fresh copy per call: the runner otherwise keeps the context of its first run,
            # and a brace.deadline entered later would not be seen.
            return runner.run(wrapped(*args, **kwargs), context=contextvars.copy_context())

        return run

    def run(self, policy: brace.Policy, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """One call of ``fn(*args, **kwargs)`` under ``policy``."""
        return self.decorate(policy, fn)(*args, **kwargs)

    def call(self, policy: brace.Policy, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """Like `run`, through ``policy.call`` / ``policy.acall`` instead of decorating."""
        if self._runner is None:
            return policy.call(fn, *args, **kwargs)

        async def afn(*a: Any, **k: Any) -> R:
            return fn(*a, **k)

        return self._runner.run(
            policy.acall(afn, *args, **kwargs), context=contextvars.copy_context()
        )

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()


@pytest.fixture(params=["sync", "async"])
def driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    """The same scenario, once through the sync shell and once through the asyncio shell."""
    d = Driver(request.param)
    try:
        yield d
    finally:
        d.close()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def recorder() -> Iterator[EventRecorder]:
    """An EventRecorder registered globally for the duration of the test."""
    rec = EventRecorder()
    with brace.listen(rec):
        yield rec


@pytest.fixture
def short_bulkhead() -> Any:
    """The built-in bulkhead scenario cut to 40 s: payment hangs from t=10 s to t=30 s."""
    import dataclasses

    from brace.sim import Scenario, load_scenario

    full = load_scenario("bulkhead")
    assert isinstance(full, Scenario)
    deps = []
    for dep in full.dependencies:
        incidents = tuple(dataclasses.replace(i, at=10, duration=20) for i in dep.service.incidents)
        service = dataclasses.replace(dep.service, incidents=incidents)
        deps.append(dataclasses.replace(dep, service=service))
    return dataclasses.replace(full, duration=40, dependencies=tuple(deps))
