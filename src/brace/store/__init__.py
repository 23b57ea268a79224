"""Where policies keep state that may be shared: the store protocols and the in-memory stores.

A circuit breaker and a rate limiter talk to their state only through a
small protocol defined here (`BreakerStore`, `RateStore`), so their decision
logic does not depend on where the state lives. The stores here keep it in
this process; policies given the same store and the same name share one state.
"""

from brace.store._memory import MemoryBreakerCell, MemoryStore
from brace.store._protocol import BreakerCell, BreakerStore
from brace.store._rate import MemoryRateStore, RateStore, gcra

__all__: list[str] = [
    "BreakerCell",
    "BreakerStore",
    "MemoryBreakerCell",
    "MemoryRateStore",
    "MemoryStore",
    "RateStore",
    "gcra",
]
