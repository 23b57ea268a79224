"""The breaker against a small reference model, under random calls, permits, time and control."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import brace
from brace.testing import VirtualClock

KINDS = ["ok", "fail", "ignored", "cancel"]


class Boom(Exception):
    pass


class Ignored(Exception):
    pass


class Model:
    """What the breaker should do, written from the spec without looking at the implementation."""

    def __init__(self, size: int, minimum: int, rate: float, trials: int, open_for: float) -> None:
        self.size, self.minimum, self.rate, self.trials, self.open_for = (
            size,
            minimum,
            rate,
            trials,
            open_for,
        )
        self.state = "CLOSED"
        self.epoch = 0
        self.outcomes: list[bool] = []  # True = failed, oldest first
        self.until = 0.0
        self.taken = 0
        self.results: list[bool] = []
        self.rejected = 0

    def enter(self, state: str) -> None:
        self.state = state
        self.epoch += 1
        self.taken = 0
        self.results = []
        if state == "CLOSED":
            self.outcomes = []

    def tick(self, now: float) -> None:
        if self.state == "OPEN" and now >= self.until:
            self.enter("HALF_OPEN")

    def admit(self, now: float) -> int | None:
        self.tick(now)
        if self.state in ("CLOSED", "DISABLED"):
            return self.epoch
        if self.state == "HALF_OPEN" and self.taken < self.trials:
            self.taken += 1
            return self.epoch
        self.rejected += 1
        return None

    def trip(self, now: float) -> None:
        self.enter("OPEN")
        self.until = now + self.open_for

    def settle(self, epoch: int, kind: str, now: float) -> None:
        if epoch != self.epoch or self.state == "DISABLED":
            return
        if kind in ("ignored", "cancel"):
            if self.state == "HALF_OPEN":
                self.taken -= 1
            return
        failed = kind == "fail"
        if self.state == "CLOSED":
            self.outcomes.append(failed)
            window = self.outcomes[-self.size :]
            if len(window) >= self.minimum and sum(window) / len(window) >= self.rate:
                self.trip(now)
        elif self.state == "HALF_OPEN":
            self.results.append(failed)
            if len(self.results) == self.trials:
                if sum(self.results) / len(self.results) >= self.rate:
                    self.trip(now)
                else:
                    self.enter("CLOSED")

    def window(self) -> list[bool]:
        return self.outcomes[-self.size :]


def act(kind: str) -> None:
    if kind == "fail":
        raise Boom
    if kind == "ignored":
        raise Ignored
    if kind == "cancel":
        raise KeyboardInterrupt


class BreakerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = VirtualClock()
        self.pending: list[tuple[brace.Permit, int]] = []

    @initialize(
        size=st.integers(1, 6),
        minimum=st.integers(1, 6),
        rate=st.sampled_from([0.25, 0.5, 0.75, 1.0]),
        trials=st.integers(1, 3),
        open_for=st.sampled_from([0.0, 1.0, 5.0]),
    )
    def build(self, size: int, minimum: int, rate: float, trials: int, open_for: float) -> None:
        minimum = min(minimum, size)
        self.model = Model(size, minimum, rate, trials, open_for)
        self.breaker = brace.CircuitBreaker(
            "model",
            window=brace.CountWindow(size),
            minimum_calls=minimum,
            failure_rate=rate,
            half_open_calls=trials,
            open_for=open_for,
            ignore=Ignored,
            clock=self.clock,
        )

    @rule(kind=st.sampled_from(KINDS))
    def call(self, kind: str) -> None:
        now = self.clock.monotonic()
        epoch = self.model.admit(now)
        try:
            self.breaker.call(act, kind)
        except brace.CircuitOpenError:
            assert epoch is None
            return
        except (Boom, Ignored, KeyboardInterrupt):
            pass
        assert epoch is not None
        self.model.settle(epoch, kind, now)

    @rule()
    def acquire(self) -> None:
        epoch = self.model.admit(self.clock.monotonic())
        try:
            permit = self.breaker.acquire()
        except brace.CircuitOpenError:
            assert epoch is None
            return
        assert epoch is not None
        self.pending.append((permit, epoch))

    @rule(index=st.integers(0, 5), kind=st.sampled_from(KINDS))
    def settle(self, index: int, kind: str) -> None:
        if not self.pending:
            return
        permit, epoch = self.pending.pop(index % len(self.pending))
        if kind == "ok":
            permit.success()
        elif kind == "fail":
            permit.failure(Boom())
        elif kind == "ignored":
            permit.failure(Ignored())
        else:
            permit.cancel()
        self.model.settle(epoch, kind, self.clock.monotonic())

    @rule(seconds=st.sampled_from([0.5, 1.0, 5.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(action=st.sampled_from(["force_open", "disable", "reset"]))
    def control(self, action: str) -> None:
        getattr(self.breaker, action)()
        target = {"force_open": "FORCED_OPEN", "disable": "DISABLED", "reset": "CLOSED"}[action]
        self.model.enter(target)
        if action == "reset":
            self.model.rejected = 0

    @invariant()
    def agrees_with_the_model(self) -> None:
        if not hasattr(self, "model"):
            return
        self.model.tick(self.clock.monotonic())
        metrics = self.breaker.metrics()
        window = self.model.window()
        assert (metrics.state.name, metrics.calls, metrics.failures, metrics.rejected) == (
            self.model.state,
            len(window),
            sum(window),
            self.model.rejected,
        )


BreakerMachine.TestCase.settings = settings(max_examples=120, stateful_step_count=40, deadline=None)
test_breaker_matches_the_reference_model = BreakerMachine.TestCase


def test_model_trips_like_the_spec_says() -> None:
    model = Model(size=4, minimum=4, rate=0.5, trials=1, open_for=1.0)
    for kind in ("fail", "ok", "fail"):
        model.settle(model.admit(0.0) or 0, kind, 0.0)
    assert model.state == "CLOSED"
    model.settle(model.admit(0.0) or 0, "ok", 0.0)
    assert model.state == "OPEN"
