"""The pure cores, driven directly: the breaker's rules, admission and transitions, and
retry's decision order. No clock, lock or event loop: facts and outcomes in, decisions out."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from brace._backoff import Backoff
from brace._breaker_core import ADMIT, REJECT, RELEASE, TRIAL, BreakerCore
from brace._breaker_rules import RateRule, StreakRule, Verdict
from brace._breaker_state import (
    AUTOMATIC,
    CLOSED,
    DISABLED,
    FORCED_OPEN,
    HALF_OPEN,
    MANUAL,
    OPEN,
    OpenSchedule,
    Phase,
    State,
    check_transition,
)
from brace._retry_core import CallState, GiveUp, Rejected, RetryCore
from brace._window import FAILED, SLOW


def core(**overrides: Any) -> BreakerCore:
    settings: dict[str, Any] = {
        "rule": RateRule(failure_rate=0.5, slow_rate=1.0, minimum_calls=4, trials=2),
        "schedule": OpenSchedule([1.0, 2.0], None),
        "half_open_calls": 2,
        "record": lambda exc: isinstance(exc, ConnectionError),
        "ignore": lambda exc: isinstance(exc, KeyError),
        "failure_if": None,
        "slow_after": None,
    }
    settings.update(overrides)
    return BreakerCore(**settings)


# -- the transition table -------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new"), list(itertools.product(State, State)))
def test_every_pair_of_states_is_legal_exactly_as_the_table_says(old: State, new: State) -> None:
    automatic = (old, new) in {
        (CLOSED, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, CLOSED),
        (HALF_OPEN, OPEN),
    }
    manual = new in (CLOSED, FORCED_OPEN, DISABLED)
    assert automatic == ((old, new) in AUTOMATIC)
    assert manual == ((old, new) in MANUAL)
    for is_manual, legal in ((False, automatic), (True, manual)):
        if legal:
            check_transition(old, new, manual=is_manual)
        else:
            with pytest.raises(RuntimeError, match="illegal"):
                check_transition(old, new, manual=is_manual)


# -- admission --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "admitted", "expected"),
    [
        (CLOSED, 0, ADMIT),
        (DISABLED, 0, ADMIT),
        (HALF_OPEN, 0, TRIAL),
        (HALF_OPEN, 1, TRIAL),
        (HALF_OPEN, 2, REJECT),  # every trial slot taken
        (OPEN, 0, REJECT),
        (FORCED_OPEN, 0, REJECT),
    ],
)
def test_admission_by_state_and_trial_slots(state: State, admitted: int, expected: int) -> None:
    phase = Phase(state, 0.0, until=10.0)
    phase.admitted = admitted
    assert expected == core().admission(phase)


@pytest.mark.parametrize(
    ("state", "now", "reason", "retry_after"),
    [
        (OPEN, 4.0, "open", 6.0),
        (HALF_OPEN, 4.0, "half-open with every trial slot taken", None),
        (FORCED_OPEN, 4.0, "forced open", None),
    ],
)
def test_a_rejection_says_why_and_when_to_come_back(
    state: State, now: float, reason: str, retry_after: float | None
) -> None:
    assert (reason, retry_after) == core().rejection(Phase(state, 0.0, until=10.0), now)


def test_an_open_phase_is_due_at_its_until_and_becomes_half_open_there() -> None:
    opened = Phase(OPEN, 0.0, until=10.0)
    assert not BreakerCore.due(opened, 9.999)
    assert BreakerCore.due(opened, 10.0)
    assert not BreakerCore.due(Phase(CLOSED, 0.0), 99.0)
    half = BreakerCore.half_open(opened)
    assert (half.state, half.since) == (HALF_OPEN, 10.0)


# -- outcomes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (None, FAILED),  # a plain failure (permit.failure())
        (ConnectionError(), FAILED),  # recorded
        (KeyError(), RELEASE),  # ignored
        (ValueError(), 0),  # neither: a success (resilience4j's rule)
        (KeyboardInterrupt(), RELEASE),  # control flow is no outcome
    ],
)
def test_an_exception_is_classified_by_record_and_ignore(
    exc: BaseException | None, expected: int
) -> None:
    assert expected == core().outcome_of(exc)


def test_failure_if_and_slow_timing_mark_results() -> None:
    judged = core(failure_if=lambda result: result == 503, slow_after=1.0)
    assert judged.outcome_of_result(503) == FAILED
    assert judged.outcome_of_result(200) == 0
    assert judged.timed(FAILED, 1.5) == FAILED | SLOW
    assert judged.timed(0, 1.0) == 0  # not slower than slow_after


# -- the rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calls", "failures", "slow", "expected"),
    [
        (3, 3, 0, None),  # fewer than minimum_calls: no verdict yet
        (4, 1, 0, None),  # 25% < 50%
        (4, 2, 0, "failure rate 50% >= 50% over 4 calls"),
        (4, 0, 4, "slow-call rate 100% >= 100% over 4 calls"),
        (4, 2, 4, "failure rate 50% >= 50% and slow-call rate 100% >= 100% over 4 calls"),
    ],
)
def test_the_rate_rule_trips_on_either_rate_once_the_window_holds_enough(
    calls: int, failures: int, slow: int, expected: str | None
) -> None:
    rule = RateRule(failure_rate=0.5, slow_rate=1.0, minimum_calls=4, trials=2)
    assert expected == rule.trips(calls, failures, slow, streak=0)


@pytest.mark.parametrize(
    ("done", "failed", "expected"),
    [
        (1, 1, None),  # waits for every trial
        (2, 0, Verdict(CLOSED, "2 trial calls succeeded")),
        (2, 1, Verdict(OPEN, "failure rate 50% >= 50% over 2 trial calls")),
    ],
)
def test_the_rate_rule_decides_half_open_when_every_trial_finished(
    done: int, failed: int, expected: Verdict | None
) -> None:
    rule = RateRule(failure_rate=0.5, slow_rate=1.0, minimum_calls=4, trials=2)
    assert expected == rule.verdict(done, failed, 0)


@pytest.mark.parametrize(
    ("streak", "done", "failed", "trips", "verdict"),
    [
        (2, 0, 0, None, None),
        (3, 0, 0, "3 consecutive failures", None),
        (0, 1, 1, None, Verdict(OPEN, "a trial call failed")),  # re-opens at once
        (0, 1, 0, None, None),
        (0, 2, 0, None, Verdict(CLOSED, "2 trial calls succeeded")),
    ],
)
def test_the_streak_rule(
    streak: int, done: int, failed: int, trips: str | None, verdict: Verdict | None
) -> None:
    rule = StreakRule(failures=3, trials=2)
    assert rule.streak
    assert trips == rule.trips(calls=99, failures=99, slow=0, streak=streak)
    assert verdict == rule.verdict(done, failed, 0)


def test_open_for_grows_per_consecutive_trip_and_restarts_after_a_close() -> None:
    breaker = core(schedule=OpenSchedule([1.0, 2.0], None))
    assert [breaker.opened(0.0, trip, None).until for trip in (1, 2, 3)] == [1.0, 2.0, 2.0]
    assert breaker.opened(5.0, 1, None).until == 6.0  # trip 1 again: from the start
    cause = ConnectionError("down")
    assert breaker.opened(0.0, 1, cause).cause is cause


# -- retry's decision order -------------------------------------------------------------------


class Budgeted:
    def __init__(self, tokens: int) -> None:
        self.tokens = tokens

    def deposit(self) -> None:
        pass

    def try_withdraw(self) -> bool:
        self.tokens -= 1
        return self.tokens >= 0


def retry_core(**overrides: Any) -> RetryCore:
    settings: dict[str, Any] = {
        "attempts": 3,
        "backoff": Backoff.constant(1.0),
        "matches": lambda exc: True,
        "on_result": None,
        "max_elapsed": None,
        "budget": None,
        "hint_hook": None,
        "rng": None,
    }
    settings.update(overrides)
    return RetryCore(**settings)


def decide(
    retry: RetryCore,
    *,
    attempts: int = 1,
    outcome: BaseException | Rejected | None = None,
    now: float = 0.0,
    deadline_left: float | None = None,
    delays: list[float] | None = None,
) -> float | GiveUp:
    state = CallState(retry, 0.0, iter(delays if delays is not None else [1.0, 1.0, 1.0]))
    state.attempts = attempts
    return state.after_failure(
        outcome if outcome is not None else ConnectionError("down"),
        now,
        deadline_left,
        lambda: 1_700_000_000.0,
    )


class Hinted(Exception):
    def __init__(self, retry_after: object) -> None:
        super().__init__("busy")
        self.retry_after = retry_after


@pytest.mark.parametrize(
    ("case", "retry", "kwargs", "expected"),
    [
        ("wait", retry_core(), {}, 1.0),
        ("attempts first", retry_core(budget=Budgeted(0)), {"attempts": 3}, "attempts"),
        ("schedule ran out", retry_core(), {"delays": []}, "backoff"),
        (
            "a hint past max_delay",
            retry_core(
                backoff=Backoff.exponential(initial=1.0, max_delay=5.0, jitter=None),
                hint_hook=lambda exc: getattr(exc, "retry_after", None),
            ),
            {"outcome": Hinted(30.0)},
            "retry_after",
        ),
        (
            "a hint longer than the backoff is waited",
            retry_core(hint_hook=lambda exc: getattr(exc, "retry_after", None)),
            {"outcome": Hinted(2.5)},
            2.5,
        ),
        ("max_elapsed", retry_core(max_elapsed=1.5), {"now": 0.6}, "max_elapsed"),
        ("the deadline", retry_core(), {"deadline_left": 0.5}, "deadline"),
        ("budget last", retry_core(budget=Budgeted(0)), {}, "budget"),
        ("budget allows", retry_core(budget=Budgeted(1)), {}, 1.0),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_retry_decides_in_order_attempts_schedule_hint_bounds_budget(
    case: str, retry: RetryCore, kwargs: dict[str, Any], expected: float | str
) -> None:
    decision = decide(retry, **kwargs)
    if isinstance(expected, str):
        assert isinstance(decision, GiveUp), case
        assert expected == decision.reason
    else:
        assert expected == decision


def test_the_budget_is_asked_only_for_a_retry_that_will_happen() -> None:
    budget = Budgeted(5)
    decide(retry_core(budget=budget, max_elapsed=1.5), now=0.6)  # gives up on max_elapsed
    decide(retry_core(budget=budget), deadline_left=0.2)  # gives up on the deadline
    assert budget.tokens == 5
    decide(retry_core(budget=budget))
    assert budget.tokens == 4


def test_recheck_after_a_wait_stops_at_the_deadline_and_max_elapsed() -> None:
    retry = retry_core(max_elapsed=2.0)
    state = CallState(retry, 0.0, iter([1.0]))
    assert state.recheck(1.0, 5.0) is None
    assert state.recheck(1.0, 0.0) == GiveUp("deadline", "the deadline passed")
    stopped = state.recheck(2.0, None)
    assert stopped is not None
    assert stopped.reason == "max_elapsed"
