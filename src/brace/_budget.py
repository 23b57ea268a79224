"""Retry budgets: bound retries across all calls, as Finagle, gRPC and Envoy do.

Per-call attempt limits do not stop a retry storm: when a dependency is slow,
every caller retries and the load multiplies. A `RetryBudget` shared by many
calls (and many `Retry` policies) allows retries only as a fraction of
recent first attempts, plus a small floor so that low-traffic clients can
still retry at all.
"""

from __future__ import annotations

from datetime import timedelta

from brace import _validate
from brace._clock import Clock
from brace._errors import ConfigError
from brace.store._budget import EPSILON, BudgetCell, MemoryBudgetCell, SlidingCount

__all__ = ["RetryBudget", "SlidingCount"]


class RetryBudget:
    """A budget of retries shared across calls: Finagle's ``RetryBudget``.

    A retry is allowed while the retries taken in the last ``window``
    seconds number fewer than ``ratio * first_attempts + min_per_second *
    window``, counting first attempts over the same window. Pass one
    instance to many `Retry` policies (or a `Hedge`) to bound them together.
    Thread- and task-safe.

    Args:
        ratio: Retries allowed per first attempt, in [0, 1]. Default 0.2.
        min_per_second: Retries per second always allowed, whatever the
            traffic (the floor for quiet clients). Default 10.
        window: Seconds over which attempts and retries are counted. Default 10.0.
        clock: Where time is read. Default: the system clock.
        name: Budgets named alike on one ``store`` share their counts; also
            the budget's key in the store. Default ``"retrybudget"``.
        store: Where the counts live: ``None`` (this budget only), a
            `brace.store.MemoryStore`, or a `brace.store.RedisStore` to share
            one budget across processes. Default None.

    Raises:
        ConfigError: ``ratio`` outside [0, 1], a negative ``min_per_second``,
            or a ``window`` that is not a positive finite duration.
    """

    __slots__ = ("_cell", "_clock", "_window", "min_per_second", "name", "ratio", "store")

    def __init__(
        self,
        ratio: float = 0.2,
        min_per_second: float = 10,
        window: float | timedelta = 10.0,
        *,
        clock: Clock | None = None,
        name: str | None = None,
        store: object = None,
    ) -> None:
        self.ratio = _validate.probability("ratio", ratio)
        self.min_per_second = _validate.number("min_per_second", min_per_second, minimum=0.0)
        self._window = _validate.duration("window", window, allow_zero=False)
        self._clock: Clock = _validate.clock("clock", clock)
        self.name = "retrybudget" if name is None else _validate.name("name", name)
        self.store = store
        self._cell: BudgetCell
        if store is None:
            self._cell = MemoryBudgetCell(self.ratio, self.min_per_second, self._window)
        elif callable(getattr(store, "budget_cell", None)):
            self._cell = store.budget_cell(  # type: ignore[attr-defined]
                self.name, self.ratio, self.min_per_second, self._window
            )
        else:
            raise ConfigError(
                f"store={store!r} is not allowed; expected None or a store with budget_cell(), "
                "such as brace.store.MemoryStore() or brace.store.RedisStore"
            )

    @property
    def window(self) -> float:
        """Seconds over which first attempts and retries are counted."""
        return self._window

    def deposit(self) -> None:
        """Record one first attempt (an original request), which earns ``ratio`` retries."""
        self._cell.deposit(self._clock.monotonic())

    def try_withdraw(self) -> bool:
        """Take one retry if the budget allows it now; atomic. False means: do not retry."""
        return self._cell.try_withdraw(self._clock.monotonic())

    def available(self) -> int:
        """How many retries the budget would allow right now."""
        left = self._cell.allowance(self._clock.monotonic())
        whole = int(left)
        # "fewer than" a fractional limit still allows the retry that crosses it.
        return max(0, whole + 1 if left - whole > EPSILON else whole)

    def __repr__(self) -> str:
        named = "" if self.name == "retrybudget" else f"{self.name!r}, "
        store = "" if self.store is None else f", store={self.store!r}"
        return (
            f"brace.RetryBudget({named}ratio={self.ratio!r}, "
            f"min_per_second={self.min_per_second!r}, window={self.window!r}{store})"
        )
