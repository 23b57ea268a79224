"""Where policies keep state that may be shared: in memory by default, Redis for many processes.

Each policy that keeps shared state (circuit breaker, rate limiter, retry
budget) talks to its state only through a small protocol defined here, so a
store that shares it across processes slots in without touching the
policy's decision logic.
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
