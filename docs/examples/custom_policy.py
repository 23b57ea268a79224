"""Writing your own policy: a call meter, used alone and inside a pipeline, sync and async.

Run: python docs/examples/custom_policy.py
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import brace
from brace.testing import VirtualClock


class Meter(brace.Policy):
    """Counts calls and failures and keeps the slowest call, measured on ``clock``."""

    def __init__(self, name: str = "meter", *, clock: brace.Clock | None = None) -> None:
        super().__init__(name)
        self.clock = clock if clock is not None else brace.SystemClock()
        self.calls = self.failures = 0
        self.slowest = 0.0

    def _record(self, started: float, failed: bool) -> None:
        self.calls += 1
        self.failures += failed
        self.slowest = max(self.slowest, self.clock.monotonic() - started)

    # The contract: one sync shell and one async shell around the next callable.

    def _wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def metered(*args: Any, **kwargs: Any) -> Any:
            started, failed = self.clock.monotonic(), True
            try:
                result = fn(*args, **kwargs)
                failed = False
                return result
            finally:
                self._record(started, failed)

        return metered

    def _awrap(self, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def metered(*args: Any, **kwargs: Any) -> Any:
            started, failed = self.clock.monotonic(), True
            try:
                result = await fn(*args, **kwargs)
                failed = False
                return result
            finally:
                self._record(started, failed)

        return metered

    def _config(self) -> dict[str, object]:
        return {"calls": self.calls}


def main() -> dict[str, object]:
    clock = VirtualClock()
    meter = Meter(clock=clock)

    @brace.pipeline(brace.Retry(attempts=3, backoff=[0.0, 0.0], clock=clock), meter)
    def flaky(attempts: list[int]) -> str:
        attempts.append(1)
        clock.advance(0.25)  # each attempt takes a quarter of a virtual second
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return "ok"

    @meter
    async def fetch() -> str:
        await clock.asleep(1.5)
        return "fetched"

    answer = flaky([])
    fetched = asyncio.run(fetch())
    late = None
    with brace.deadline(1.0, clock=clock):
        clock.advance(2.0)
        try:
            meter.call(lambda: "never runs")
        except brace.TimeoutExceededError as exc:  # the base checks the deadline for you
            late = exc.source
    return {
        "answer": answer,
        "fetched": fetched,
        "calls": meter.calls,
        "failures": meter.failures,
        "slowest": meter.slowest,
        "deadline": late,
    }


if __name__ == "__main__":
    for key, value in main().items():
        print(f"{key:>9}: {value}")
