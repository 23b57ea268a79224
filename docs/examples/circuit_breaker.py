"""A circuit breaker with a fallback: stop hammering a failing service, serve a cached answer.

The pricing service goes down for a minute. The breaker notices after a
handful of calls, rejects the rest at once (no waiting on a dead service),
and the fallback answers from the last known price. When the service comes
back, the half-open trials close the breaker again. Runs on virtual time,
instantly. Run: python docs/examples/circuit_breaker.py
"""

from __future__ import annotations

import brace
from brace.testing import EventRecorder, VirtualClock

clock = VirtualClock()
service_up = True

breaker = brace.CircuitBreaker(
    "pricing",
    failure_rate=0.5,  # trip when half the recent calls fail ...
    minimum_calls=5,  # ... once at least 5 calls are in the window
    window=brace.CountWindow(20),
    open_for=10.0,  # then reject for 10 s before letting trials through
    half_open_calls=2,
    clock=clock,
)
LAST_PRICE = {"sku-1": 9.99}


def cached_price(sku: str) -> float:
    return LAST_PRICE[sku]


@brace.pipeline(brace.Fallback([cached_price], clock=clock), breaker)
def price(sku: str) -> float:
    if not service_up:
        raise ConnectionError("pricing service unreachable")
    LAST_PRICE[sku] = 10.49
    return 10.49


RESULTS: list[tuple[float, str, float]] = []
recorder = EventRecorder()
breaker.listen(recorder)

for second in range(90):
    service_up = not 20 <= second < 60  # an outage from t=20 s to t=60 s
    RESULTS.append((clock.monotonic(), breaker.state.name, price("sku-1")))
    clock.advance(1.0)

if __name__ == "__main__":
    for event in recorder.of(brace.StateChanged):
        print(f"{event.old:>9} -> {event.new:<9} {event.reason}")
    metrics = breaker.metrics()
    print(f"final state {metrics.state.name}, {metrics.calls} calls in window")
