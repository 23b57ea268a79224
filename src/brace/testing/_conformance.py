"""What every brace store must do: a conformance suite to subclass in a test module.

A store is where `brace.CircuitBreaker`, `brace.RateLimiter`,
`brace.RetryBudget` and `brace.Bulkhead` keep state that policies named alike
share. The checks run each policy on two *handles* of one shared state (for
`brace.store.MemoryStore` both are the same object; for
`brace.store.RedisStore`, two stores on the same server stand for two
processes) and expect the handles to agree after both have synced.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import brace

__all__ = ["StoreConformance"]

#: Policy names that must never share state with each other (nor with "a").
ODD_NAMES = ("a", "a:b", "a%3Ab", "{a}", "a}", "a b", "é", "a:b:rate")


def _fail(_: object = None) -> None:
    raise ConnectionError("down")


def _trip(breaker: brace.CircuitBreaker, failures: int = 1) -> None:
    for _ in range(failures):
        with contextlib.suppress(ConnectionError):
            breaker.call(_fail)


def expect(expected: object, actual: object, what: str) -> None:
    """Raise `AssertionError` saying ``what`` unless ``expected == actual``."""
    if expected != actual:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


def _refused(call: Callable[[], object], error: type[BaseException], what: str) -> BaseException:
    """The ``error`` that ``call()`` raises; `AssertionError` saying ``what`` if it does not."""
    try:
        call()
    except error as exc:
        return exc
    raise AssertionError(what)


class StoreConformance:
    """Checks a store must pass; subclass it as ``TestMyStore`` and define `make_stores`.

    pytest collects the ``test_*`` methods of the subclass. Each check calls
    `make_stores` for fresh state. Timings use the real clock and stay short
    (a few tenths of a second in all).

    Example::

        class TestRedisStore(brace.testing.StoreConformance):
            def make_stores(self):
                prefix = f"t{uuid.uuid4().hex}"
                return RedisStore(url=URL, prefix=prefix), RedisStore(url=URL, prefix=prefix)
    """

    def make_stores(self) -> tuple[Any, Any]:
        """Two handles on one fresh shared state (the same object, or two processes' stores)."""
        raise NotImplementedError

    @staticmethod
    def settle(*stores: Any) -> None:
        """Let every handle see what the others did: each syncs, twice round."""
        for _ in range(2):
            for store in stores:
                sync = getattr(store, "sync", None)
                if sync is not None:
                    sync()

    # -- circuit breakers -----------------------------------------------------------------

    def test_breakers_named_alike_share_a_trip(self) -> None:
        """A breaker that trips through one handle rejects through the other."""
        one, two = self.make_stores()
        first = brace.CircuitBreaker("svc", consecutive_failures=2, open_for=60, store=one)
        second = brace.CircuitBreaker("svc", consecutive_failures=2, open_for=60, store=two)
        _trip(first, 2)
        expect(brace.State.OPEN, first.state, "the tripped breaker")
        self.settle(one, two)
        expect(brace.State.OPEN, second.state, "the same breaker through the other handle")
        error = _refused(
            lambda: second.call(lambda: None),
            brace.CircuitOpenError,
            "a breaker open through the other handle admitted a call",
        )
        retry_after = getattr(error, "retry_after", None) or 0.0
        expect(retry_after, min(max(retry_after, 1e-9), 60.0), "retry_after in (0, 60]")

    def test_breakers_named_differently_share_nothing(self) -> None:
        """Names that look alike once escaped (``a:b``, ``a%3Ab``, braces) stay apart."""
        one, two = self.make_stores()
        breakers = {
            name: (
                brace.CircuitBreaker(name, consecutive_failures=1, open_for=60, store=one),
                brace.CircuitBreaker(name, consecutive_failures=1, open_for=60, store=two),
            )
            for name in ODD_NAMES
        }
        _trip(breakers["a:b"][0])
        self.settle(one, two)
        for name, pair in breakers.items():
            expected = brace.State.OPEN if name == "a:b" else brace.State.CLOSED
            expect([expected, expected], [b.state for b in pair], f"breakers {name!r}")

    def test_manual_control_acts_through_every_handle(self) -> None:
        """force_open, disable and reset made through one handle reach the other."""
        one, two = self.make_stores()
        first = brace.CircuitBreaker("svc", store=one)
        second = brace.CircuitBreaker("svc", store=two)
        for act, actor, expected in (
            ("force_open", first, brace.State.FORCED_OPEN),
            ("reset", second, brace.State.CLOSED),
            ("disable", second, brace.State.DISABLED),
            ("reset", first, brace.State.CLOSED),
        ):
            getattr(actor, act)()
            self.settle(one, two)
            expect([expected, expected], [first.state, second.state], f"after {act}()")

    def test_half_open_trials_are_limited_across_handles(self) -> None:
        """At most ``half_open_calls`` trials at once, whichever handle admits them."""
        one, two = self.make_stores()
        first, second = (
            brace.CircuitBreaker(
                "svc", consecutive_failures=1, open_for=0.05, half_open_calls=2, store=store
            )
            for store in (one, two)
        )
        _trip(first)
        self.settle(one, two)
        brace.SystemClock().sleep(0.1)
        trials = [first.acquire(), second.acquire()]
        for breaker in (first, second):
            _refused(
                breaker.acquire,
                brace.CircuitOpenError,
                "a third trial was admitted with half_open_calls=2",
            )
        for permit in trials:
            permit.success()
        self.settle(one, two)
        expect([brace.State.CLOSED] * 2, [first.state, second.state], "after two good trials")

    def test_breakers_sharing_a_store_and_name_share_the_window(self) -> None:
        """Another window for the same name on the same handle is a ConfigError."""
        one, _ = self.make_stores()
        brace.CircuitBreaker("svc", window=brace.CountWindow(10), minimum_calls=5, store=one)
        _refused(
            lambda: brace.CircuitBreaker("svc", window=brace.CountWindow(20), store=one),
            brace.ConfigError,
            "a second window for one breaker was accepted",
        )

    # -- rate limiters ----------------------------------------------------------------------

    def test_rate_limiters_named_alike_share_one_limit(self) -> None:
        """A burst of 4 is 4 calls in all, however they are spread over the handles."""
        one, two = self.make_stores()
        limiters = [
            brace.RateLimiter("api", rate=1, per=60, burst=4, store=store) for store in (one, two)
        ]
        admitted = 0
        for index in range(10):
            try:
                limiters[index % 2].call(lambda: None)
                admitted += 1
            except brace.RateLimitedError as exc:
                expect(None, None if exc.retry_after else exc, "a refusal's retry_after")
        expect(4, admitted, "calls admitted with burst=4")
        limiters[1].reset()
        limiters[0].call(lambda: None)  # a full bucket again, for every handle

    # -- retry budgets ----------------------------------------------------------------------

    def test_retry_budgets_named_alike_share_the_allowance(self) -> None:
        """A floor of 4 retries is 4 retries in all across the handles."""
        one, two = self.make_stores()
        budgets = [
            brace.RetryBudget(ratio=0.0, min_per_second=0.4, window=10, name="b", store=store)
            for store in (one, two)
        ]
        taken = 0
        for _ in range(6):  # a shared store may hand out its allowance in shares, sync by sync
            for budget in budgets:
                while budget.try_withdraw():
                    taken += 1
            self.settle(one, two)
        expect(4, taken, "retries taken with a floor of 4")
        expect([0, 0], [budget.available() for budget in budgets], "retries still available")

    # -- bulkheads --------------------------------------------------------------------------

    def test_bulkheads_named_alike_share_their_permits(self) -> None:
        """Two permits in all: a third call, through either handle, is rejected."""
        one, two = self.make_stores()
        bulkheads = [brace.Bulkhead("db", max_concurrent=2, store=store) for store in (one, two)]
        inside, leave = threading.Barrier(3), threading.Event()

        def hold() -> None:
            inside.wait(timeout=5)
            leave.wait(timeout=5)

        threads = [threading.Thread(target=bulkhead.call, args=(hold,)) for bulkhead in bulkheads]
        for thread in threads:
            thread.start()
        try:
            inside.wait(timeout=5)
            for bulkhead in bulkheads:
                _refused(
                    lambda b=bulkhead: b.call(lambda: None),  # type: ignore[misc]
                    brace.BulkheadFullError,
                    "a third call entered a bulkhead of two permits",
                )
        finally:
            leave.set()
            for thread in threads:
                thread.join(timeout=5)
        for bulkhead in bulkheads:
            expect("ok", bulkhead.call(lambda: "ok"), "a call once the permits are back")
