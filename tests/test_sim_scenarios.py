"""What the built-in scenarios must show, with their default seeds."""

from __future__ import annotations

import dataclasses
import runpy
from pathlib import Path
from typing import Any

import pytest

import brace
from brace.sim import (
    Contention,
    OpenLoop,
    Outage,
    Scenario,
    Service,
    StrategyContext,
    StrategyError,
    StrategyResult,
    load_scenario,
    run_contention,
    simulate,
)
from brace.sim._report import to_json

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _scenario(name: str) -> Scenario:
    scenario = load_scenario(name)
    assert isinstance(scenario, Scenario)
    return scenario


def _attempts_between(result: StrategyResult, start: float, end: float) -> float:
    return sum(p.attempts for p in result.timeline if start <= p.t < end)


def _small() -> Scenario:
    return Scenario(
        name="small",
        duration=40,
        load=OpenLoop(rate=50),
        service=Service(servers=5, incidents=(Outage(at=10, duration=10),)),
    )


def test_same_seed_same_numbers_to_the_last_digit() -> None:
    first = to_json(simulate(_small(), ["naive-retry", "brace"], seed=5))
    again = to_json(simulate(_small(), ["naive-retry", "brace"], seed=5))
    other = to_json(simulate(_small(), ["naive-retry", "brace"], seed=6))
    assert first == again
    assert first != other


def test_outage_brace_sends_far_fewer_attempts_and_recovers_quickly() -> None:
    scenario = _scenario("outage")
    result = simulate(scenario, ["naive-retry", "brace"])
    start, end = scenario.incident() or (0, 0)
    naive, careful = result.strategies["naive-retry"], result.strategies["brace"]
    assert _attempts_between(careful, start, end) < 0.6 * _attempts_between(naive, start, end)
    assert careful.recovery_seconds is not None
    assert careful.recovery_seconds <= 10
    # The outage refuses everything: no strategy can succeed inside it.
    inside = [p.success_rate for p in careful.timeline if start + 1 <= p.t < end - 1]
    assert max(r or 0 for r in inside) < 0.2


def test_overload_spike_tips_naive_retry_into_a_failure_that_outlives_it() -> None:
    result = simulate(_scenario("overload-spike"), ["naive-retry", "brace"])
    naive, careful = result.strategies["naive-retry"], result.strategies["brace"]
    assert naive.recovery_seconds is None
    assert naive.timeline[-1].success_rate is not None
    assert naive.timeline[-1].success_rate < 0.2
    assert careful.recovery_seconds is not None
    assert careful.timeline[-1].success_rate == pytest.approx(1.0, abs=0.05)
    assert naive.amplification > 2 * careful.amplification


def test_contention_ordering_matches_brooker() -> None:
    scenario = load_scenario("contention")
    assert isinstance(scenario, Contention)
    result = run_contention(scenario, runs=12, clients=(50, 100))
    for n in (50, 100):
        points = {p.strategy: p for p in result.sweep if p.clients == n}
        calls = {k: p.calls for k, p in points.items()}
        time = {k: p.completion_seconds for k, p in points.items()}
        # Jitter does far less work than no backoff and than plain exponential backoff.
        for jittered in ("full", "equal"):
            assert calls[jittered] < 0.7 * calls["none"]
            assert calls[jittered] < 0.7 * calls["exponential"]
        # Exponential backoff without jitter takes the longest to finish.
        assert time["exponential"] == max(time.values())
        # Full jitter is about as cheap as the cheapest, and faster than equal jitter.
        assert calls["full"] <= 1.1 * min(calls.values())
        assert time["full"] < time["equal"]


def test_contention_is_reproducible_and_uses_brace_backoff_schedules() -> None:
    scenario = Contention(runs=3, clients=(10,))
    assert run_contention(scenario) == run_contention(scenario)
    from brace.sim._contention import backoff_for

    assert backoff_for("exponential", 0.005, 2.0) == brace.Backoff.exponential(
        initial=0.01, max_delay=2.0, jitter=None
    )
    assert backoff_for("decorrelated", 0.005, 2.0).jitter == "decorrelated"


def test_a_user_factory_is_called_with_the_context_and_reported_by_name() -> None:
    seen: list[StrategyContext] = []

    def careful(ctx: StrategyContext) -> brace.Policy:
        seen.append(ctx)
        return brace.Timeout(ctx.attempt_timeout)

    result = simulate(_small(), [careful, "no-retry"])
    assert list(result.strategies) == ["careful", "no-retry"]
    assert seen[0].attempt_timeout == 0.5
    assert result.strategies["careful"].attempts == result.strategies["no-retry"].attempts


def test_a_factory_that_returns_no_policy_or_cannot_be_imported_is_a_strategy_error() -> None:
    def not_a_factory() -> Any:
        return 42

    with pytest.raises(StrategyError, match="not a policy"):
        simulate(_small(), [not_a_factory])
    with pytest.raises(StrategyError, match="cannot import module 'no_such_module'"):
        simulate(_small(), ["no_such_module:factory"])
    with pytest.raises(StrategyError, match="has no attribute 'nothing'"):
        simulate(_small(), ["brace:nothing"])


def test_runs_pool_several_seeds() -> None:
    one = simulate(_small(), ["no-retry"], seed=1).strategies["no-retry"]
    two = simulate(_small(), ["no-retry"], seed=1, runs=2).strategies["no-retry"]
    assert two.runs == 2
    assert two.logical_requests > one.logical_requests


def test_the_breaker_state_is_sampled_every_second() -> None:
    scenario = dataclasses.replace(_small(), strategies=("brace",))
    result = simulate(scenario)
    states = {p.breaker for p in result.strategies["brace"].timeline}
    assert {"closed", "open"} <= states


def test_the_docs_example_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.syspath_prepend(str(DOCS / "examples"))
    runpy.run_path(str(DOCS / "examples" / "sim_strategy.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "patient" in out
