"""What the built-in scenarios must show, with their default seeds."""

from __future__ import annotations

import dataclasses
import itertools
import runpy
from pathlib import Path
from typing import Any

import pytest

import brace
from brace.sim import (
    Contention,
    OpenLoop,
    Outage,
    Request,
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


def test_outage_brace_serves_through_it_with_a_fraction_of_the_load() -> None:
    result = simulate(_scenario("outage"), ["naive-retry", "breaker", "brace"])
    naive, breaker, careful = (result.strategies[n] for n in ("naive-retry", "breaker", "brace"))
    assert careful.incident is not None and naive.incident is not None
    assert breaker.incident is not None
    # Nearly every request is answered while the dependency is down, almost all by fallbacks...
    assert careful.incident.served_rate >= 0.95
    assert careful.incident.degraded >= 0.9 * careful.incident.requests
    # ... with a small fraction of the load naive retries send.
    assert careful.incident.attempts_per_second < 0.1 * naive.incident.attempts_per_second
    assert naive.incident.load_factor is not None and naive.incident.load_factor > 2.5
    # The same protection without a fallback spares the dependency but answers nobody.
    assert breaker.incident.attempts_per_second == careful.incident.attempts_per_second
    assert breaker.incident.served_rate < 0.05
    assert careful.successes == breaker.successes
    assert careful.served_rate == (careful.successes + careful.degraded) / careful.logical_requests


def test_bulkhead_one_hanging_dependency_takes_the_others_down_only_without_bulkheads(
    short_bulkhead: Scenario,
) -> None:
    result = simulate(short_bulkhead, ["no-retry", "bulkhead"])
    shared, isolated = result.strategies["no-retry"], result.strategies["bulkhead"]
    assert list(shared.dependencies) == ["payment", "inventory", "shipping"]

    def served_in_incident(r: StrategyResult, dep: str) -> float:
        figures = r.dependencies[dep].incident
        assert figures is not None
        return figures.served_rate

    for dep in ("inventory", "shipping"):
        assert served_in_incident(shared, dep) < 0.5
        assert served_in_incident(isolated, dep) > 0.9
    for r in (shared, isolated):
        assert served_in_incident(r, "payment") < 0.1
    # Stuck payment calls fill the whole pool without bulkheads.
    assert max(p.workers_busy or 0 for p in shared.timeline) == 40
    assert max(p.workers_busy or 0 for p in isolated.timeline) < 40
    totals = sum(d.logical_requests for d in shared.dependencies.values())
    assert totals == shared.logical_requests


def test_breaker_transitions_are_logged_exactly_with_half_open_probes() -> None:
    result = simulate(_small(), ["brace"]).strategies["brace"]
    transitions = result.transitions
    times = [tr.t for tr in transitions]
    assert times == sorted(times)
    assert (transitions[0].old, transitions[0].new) == ("closed", "open")
    assert 10 <= transitions[0].t < 13  # trips within seconds of the outage's start
    legal = {("closed", "open"), ("open", "half_open"), ("half_open", "open"),
             ("half_open", "closed")}  # fmt: skip
    assert {(tr.old, tr.new) for tr in transitions} <= legal
    assert any(tr.new == "half_open" for tr in transitions)
    for earlier, later in itertools.pairwise(transitions):
        assert earlier.new == later.old
    # Not sampled: a transition falls at its own time, between whole seconds.
    assert any(tr.t != int(tr.t) for tr in transitions)
    # Where the per-second sample says closed, the log agrees.
    for point in result.timeline:
        before = [tr for tr in transitions if tr.t <= point.t + 1]
        if point.breaker == "closed":
            assert not before or before[-1].new == "closed"


def test_jobs_give_the_same_figures_as_one_process() -> None:
    one = to_json(simulate(_small(), ["no-retry", "brace"], seed=4))
    two = to_json(simulate(_small(), ["no-retry", "brace"], seed=4, jobs=2))
    assert one == two


def test_requests_for_the_same_user_share_a_remembered_answer() -> None:
    first, again, other = Request(7), Request(7), Request(8)
    assert first == again and hash(first) == hash(again) and first is not again
    assert first != other
    assert first.user == 7
    assert repr(first) == "Request(user=7)"
