"""Retry with backoff, a shared budget and a deadline, on virtual time (runs instantly)."""

from __future__ import annotations

import random

import brace
from brace.testing import EventRecorder, VirtualClock

clock = VirtualClock()
budget = brace.RetryBudget(ratio=0.2, min_per_second=1, window=10.0, clock=clock)
retry = brace.Retry(
    "inventory",
    attempts=4,
    backoff=brace.Backoff.exponential(initial=0.1, max_delay=2.0, jitter="full"),
    on=(ConnectionError, TimeoutError),
    budget=budget,
    rng=random.Random(7),  # a seed makes the jittered waits reproducible
    clock=clock,
)
recorder = EventRecorder()
retry.listen(recorder)

failures = iter([ConnectionError("reset"), TimeoutError("slow")])


@retry
def fetch_stock(sku: str) -> int:
    """Fail twice, then answer: stands in for a flaky network call."""
    error = next(failures, None)
    if error is not None:
        raise error
    return 12


def main() -> None:
    print("stock:", fetch_stock("sku-1"))
    for event in recorder.events:
        print(" ", event)
    print(f"waited {sum(clock.sleeps):.3f} s of virtual time")

    # A server that says "come back in 30 s" is beyond max_delay=2 s: give up at once.
    # (Rejections such as RateLimitedError are retried only when `on` names them.)
    api = brace.Retry(
        "api",
        attempts=5,
        backoff=brace.Backoff.exponential(max_delay=2.0),
        on=brace.RateLimitedError,
        clock=clock,
    )

    def overloaded() -> None:
        raise brace.RateLimitedError("slow down", policy="api", retry_after=30.0)

    try:
        api.call(overloaded)
    except brace.RateLimitedError as exc:
        print("gave up:", exc.__notes__[0])

    # Inside a deadline, a retry never sleeps past it.
    with brace.deadline(0.25, clock=clock):
        try:
            retry.call(overloaded_soon)
        except ConnectionError as exc:
            print("gave up:", exc.__notes__[0])


def overloaded_soon() -> None:
    raise ConnectionError("refused")


if __name__ == "__main__":
    main()
