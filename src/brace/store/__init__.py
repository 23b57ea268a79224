"""Where policies keep state that may be shared: the store protocols and the in-memory stores.

Each policy that keeps shared state (circuit breaker, rate limiter, retry
budget, bulkhead) talks to its state only through a small protocol defined
here, so a store that shares it across processes slots in without touching
the policy's decision logic. `RedisStore` is that store for Redis; it needs
the ``redis`` extra (``pip install 'brace[redis]'``) and is imported on first use.
"""

from typing import TYPE_CHECKING, Any

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
    "RedisStore",
    "gcra",
]


if TYPE_CHECKING:  # for type checkers and the API reference; imported lazily at run time
    from brace.store._redis import RedisStore


def __getattr__(name: str) -> Any:
    if name == "RedisStore":  # imported lazily: redis-py is an optional dependency
        try:
            from brace.store._redis import RedisStore  # noqa: PLC0415
        except ImportError as exc:
            if exc.name is None or not exc.name.startswith("redis"):
                raise
            raise ImportError(
                "brace.store.RedisStore needs redis-py: pip install 'brace[redis]'"
            ) from exc
        return RedisStore
    raise AttributeError(f"module 'brace.store' has no attribute {name!r}")
