"""RetryBudget: Finagle's arithmetic, the sliding window, sharing across calls, threads and tasks."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import brace
from brace import Backoff, Retry, RetryBudget
from brace.testing import EventRecorder, VirtualClock
from tests.conftest import Driver

# (time, action, expected result of try_withdraw or None for a deposit)
# Budget: ratio 0.5, min_per_second 0.1, window 10 s -> a retry is allowed while
# retries_in_window < 0.5 * deposits_in_window + 1.
SEQUENCE: list[tuple[float, str, bool | None]] = [
    (0.0, "withdraw", True),  # 0 < 0 + 1: the reserve
    (0.0, "withdraw", False),  # 1 < 1 is false
    (1.0, "deposit", None),
    (1.0, "withdraw", True),  # 1 < 0.5 + 1
    (1.0, "withdraw", False),  # 2 < 1.5 is false
    (2.0, "deposit", None),
    (2.0, "deposit", None),
    (2.0, "deposit", None),
    (2.0, "withdraw", True),  # 2 < 2 + 1
    (2.0, "withdraw", False),  # 3 < 3 is false
    (10.0, "withdraw", True),  # the retry at t=0 left the window: 2 < 3
    (11.0, "withdraw", True),  # t=1 left: retries {2, 10} = 2 < 1.5 + 1
    (11.0, "withdraw", False),  # 3 < 2.5 is false
    (12.0, "withdraw", False),  # t=2 left: no deposits; retries {10, 11} = 2 < 1 is false
    (20.5, "withdraw", False),  # retries {11} = 1 < 1 is false
    (21.0, "withdraw", True),  # the retry at 11 is one window old: 0 < 1
]


def test_hand_computed_sequence_of_deposits_and_withdrawals(clock: VirtualClock) -> None:
    budget = RetryBudget(ratio=0.5, min_per_second=0.1, window=10.0, clock=clock)
    for at, action, expected in SEQUENCE:
        clock.advance(at - clock.monotonic())
        if action == "deposit":
            budget.deposit()
        else:
            assert (at, budget.try_withdraw()) == (at, expected)


def test_an_event_counts_for_exactly_one_window(clock: VirtualClock) -> None:
    budget = RetryBudget(ratio=1.0, min_per_second=0, window=10.0, clock=clock)
    clock.advance(0.5)
    budget.deposit()
    clock.advance(9.75)
    assert budget.available() == 1
    clock.advance(0.25)  # now 10.5: the deposit at 0.5 is exactly one window old
    assert budget.available() == 0
    assert not budget.try_withdraw()


def test_available_counts_the_retries_allowed_now(clock: VirtualClock) -> None:
    budget = RetryBudget(ratio=0.2, min_per_second=0, window=1.0, clock=clock)
    for _ in range(11):
        budget.deposit()
    assert budget.available() == 3  # 0, 1 and 2 are each fewer than 2.2
    assert [budget.try_withdraw() for _ in range(4)] == [True, True, True, False]
    assert budget.available() == 0


def test_float_rounding_never_grants_an_extra_retry(clock: VirtualClock) -> None:
    budget = RetryBudget(ratio=0.1, min_per_second=0, window=1.0, clock=clock)
    for _ in range(30):
        budget.deposit()  # 0.1 * 30 is 3.0000000000000004 in floats
    assert [budget.try_withdraw() for _ in range(4)] == [True, True, True, False]


def test_defaults_are_finagles() -> None:
    budget = RetryBudget()
    assert (budget.ratio, budget.min_per_second, budget.window) == (0.2, 10, 10.0)
    assert budget.available() == 100
    assert repr(budget) == "brace.RetryBudget(ratio=0.2, min_per_second=10.0, window=10.0)"


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"ratio": -0.1}, "ratio"),
        ({"ratio": 1.5}, "ratio"),
        ({"ratio": float("nan")}, "ratio"),
        ({"min_per_second": -1}, "min_per_second"),
        ({"min_per_second": float("inf")}, "min_per_second"),
        ({"min_per_second": "10"}, "min_per_second"),
        ({"window": 0}, "window"),
        ({"window": float("inf")}, "window"),
    ],
)
def test_bad_budgets_raise_config_error_naming_the_parameter(
    kwargs: dict[str, object], param: str
) -> None:
    with pytest.raises(brace.ConfigError, match=param):
        RetryBudget(**kwargs)  # type: ignore[arg-type]


# -- with Retry ----------------------------------------------------------------------------


def test_an_empty_budget_stops_retrying_with_a_note_and_events(
    driver: Driver, clock: VirtualClock, recorder: EventRecorder
) -> None:
    budget = RetryBudget(ratio=0.0, min_per_second=0.1, window=10.0, clock=clock)  # one retry
    policy = Retry("svc", attempts=5, backoff=Backoff.constant(0.5), budget=budget, clock=clock)
    calls = 0

    def fn() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError(calls)

    with pytest.raises(ConnectionError) as info:
        driver.run(policy, fn)
    assert calls == 2
    assert info.value.__notes__ == [
        "brace.Retry 'svc' gave up after 2 attempts in 0.50 s: the retry budget is exhausted"
    ]
    assert recorder.kinds() == ["RetryScheduled", "BudgetExhausted", "GaveUp"]
    assert recorder.of(brace.BudgetExhausted) == [brace.BudgetExhausted("svc", 2)]


def test_every_call_deposits_once_and_every_retry_withdraws_once(
    driver: Driver, clock: VirtualClock
) -> None:
    budget = RetryBudget(ratio=1.0, min_per_second=0, window=100.0, clock=clock)
    policy = Retry(attempts=3, backoff=Backoff.constant(0.0), budget=budget, clock=clock)
    outcomes = iter([OSError(), "a", "b", OSError(), OSError(), "c"])

    def fn() -> object:
        item = next(outcomes)
        if isinstance(item, Exception):
            raise item
        return item

    assert [driver.run(policy, fn) for _ in range(3)] == ["a", "b", "c"]
    # 3 deposits, 3 retries taken: nothing left.
    assert budget.available() == 0


def test_one_budget_is_shared_by_many_retry_policies(driver: Driver, clock: VirtualClock) -> None:
    budget = RetryBudget(ratio=0.0, min_per_second=0.2, window=10.0, clock=clock)  # two retries
    first = Retry(attempts=10, backoff=[0.0] * 9, budget=budget, clock=clock)
    second = Retry(attempts=10, backoff=[0.0] * 9, budget=budget, clock=clock)
    calls = 0

    def fn() -> None:
        nonlocal calls
        calls += 1
        raise OSError

    for policy in (first, second):
        with pytest.raises(OSError):
            driver.run(policy, fn)
    assert calls == 4  # two first attempts + the two retries the budget held


def test_threads_sharing_a_budget_take_exactly_what_it_allows() -> None:
    clock = VirtualClock()
    budget = RetryBudget(ratio=0.5, min_per_second=1, window=10.0, clock=clock)
    for _ in range(100):
        budget.deposit()
    allowed = budget.available()  # 0.5 * 100 + 10 = 60
    workers = 8
    barrier = threading.Barrier(workers)
    granted = [0] * workers

    def worker(index: int) -> None:
        barrier.wait()
        for _ in range(50):
            if budget.try_withdraw():
                granted[index] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (allowed, sum(granted)) == (60, 60)


def test_threads_running_retries_share_one_budget() -> None:
    clock = VirtualClock()
    budget = RetryBudget(ratio=0.0, min_per_second=1, window=10.0, clock=clock)  # ten retries
    policy = Retry(attempts=4, backoff=Backoff.constant(0.0), budget=budget, clock=clock)
    workers = 6
    barrier = threading.Barrier(workers)
    lock = threading.Lock()
    calls = 0

    @policy
    def fn() -> None:
        nonlocal calls
        with lock:
            calls += 1
        raise OSError

    def worker() -> None:
        barrier.wait()
        for _ in range(5):
            with contextlib.suppress(OSError):
                fn()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == 30 + 10  # every first attempt, plus exactly the ten retries budgeted


async def test_tasks_running_retries_share_one_budget() -> None:
    clock = VirtualClock()
    budget = RetryBudget(ratio=0.0, min_per_second=0.5, window=10.0, clock=clock)  # five retries
    policy = Retry(attempts=3, backoff=Backoff.constant(0.1), budget=budget, clock=clock)
    calls = 0

    @policy
    async def fn() -> None:
        nonlocal calls
        calls += 1
        raise OSError

    results = await asyncio.gather(*(fn() for _ in range(20)), return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results)
    assert calls == 20 + 5


# -- against a reference model -------------------------------------------------------------


class BudgetModel(RuleBasedStateMachine):
    """The budget against a naive list of timestamps, on virtual time."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = VirtualClock()
        self.budget = RetryBudget(ratio=0.25, min_per_second=0.3, window=5.0, clock=self.clock)
        self.deposits: list[float] = []
        self.retries: list[float] = []

    def _in_window(self, times: list[float]) -> int:
        now = self.clock.monotonic()
        return sum(1 for t in times if now - t < 5.0)

    def _allowed(self) -> bool:
        limit = 0.25 * self._in_window(self.deposits) + 0.3 * 5.0
        return self._in_window(self.retries) < limit - 1e-9

    @rule(times=st.integers(1, 4))
    def deposit(self, times: int) -> None:
        for _ in range(times):
            self.budget.deposit()
            self.deposits.append(self.clock.monotonic())

    @rule()
    def withdraw(self) -> None:
        expected = self._allowed()
        assert self.budget.try_withdraw() == expected
        if expected:
            self.retries.append(self.clock.monotonic())

    @rule(step=st.sampled_from([0.0, 0.5, 1.0, 2.5, 5.0, 7.5]))
    def advance(self, step: float) -> None:
        self.clock.advance(step)

    @invariant()
    def available_agrees(self) -> None:
        limit = 0.25 * self._in_window(self.deposits) + 1.5
        left = limit - self._in_window(self.retries)
        expected = 0
        while expected < left - 1e-9:
            expected += 1
        assert self.budget.available() == expected


TestBudgetModel = BudgetModel.TestCase
TestBudgetModel.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
