"""Fault injection in staging: does the pipeline around a flaky call hold up?

A third of the calls fail and a tenth are slow, on virtual time, with a
seeded random source; the retry and the fallback around them should keep
every answer coming. Runs instantly.
"""

from __future__ import annotations

import random
from collections import Counter

import brace
from brace import chaos
from brace.testing import EventRecorder, VirtualClock

clock = VirtualClock()
rng = random.Random(2024)
# On unless the environment says BRACE_CHAOS=0: production would use the default (off).
enabled = chaos.env("BRACE_CHAOS", default=True)

policy = brace.pipeline(
    brace.Fallback("default price"),
    brace.Retry(attempts=3, backoff=brace.Backoff.constant(0.1), clock=clock, rng=rng),
    chaos.Fault(ConnectionError("injected"), 0.33, enabled=enabled, rng=rng),
    chaos.Latency(lambda: rng.expovariate(1 / 0.5), 0.1, enabled=enabled, rng=rng, clock=clock),
)


@policy
def price(sku: str) -> str:
    return f"price of {sku}"


def main() -> None:
    recorder = EventRecorder()
    with brace.listen(recorder):
        answers = Counter(price(f"sku-{n}") != "default price" for n in range(1000))
    injected = Counter(event.kind for event in recorder.of(chaos.Injected))
    print(f"real answers {answers[True]}, fallbacks {answers[False]}")
    print(f"injected: {dict(injected)}; retries: {len(recorder.of(brace.RetryScheduled))}")
    print(f"virtual time spent: {clock.monotonic():.1f} s")


if __name__ == "__main__":
    main()
