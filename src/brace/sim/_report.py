"""Results as plain data: the ``--json`` layout, the table rows and the sentences that explain them.

The JSON layout is a contract (documented in ``docs/simulator.md``): scripts
and dashboards read it. Keys may be added, never renamed or removed.
"""

from __future__ import annotations

from typing import Any

from brace.sim._contention import ContentionResult
from brace.sim._metrics import IncidentFigures, StrategyResult, TimelinePoint
from brace.sim._runner import SimulationResult

__all__ = [
    "CONTENTION_HEADERS",
    "DEPENDENCY_HEADERS",
    "TABLE_HEADERS",
    "contention_rows",
    "dependency_rows",
    "table_rows",
    "tables",
    "to_json",
]

TABLE_HEADERS = (
    "strategy",
    "served",
    "fresh",
    "degraded",
    "p50",
    "p99",
    "amplification",
    "incident load",
    "recovery",
)
DEPENDENCY_HEADERS = (
    "strategy",
    "dependency",
    "served",
    "fresh",
    "degraded",
    "p99",
    "served in incident",
)
CONTENTION_HEADERS = ("clients", "strategy", "calls", "completion")


def _point_json(p: TimelinePoint) -> dict[str, Any]:
    return {
        "t": p.t,
        "success_rate": p.success_rate,
        "served_rate": p.served_rate,
        "attempts": p.attempts,
        "in_flight": p.in_flight,
        "breaker": p.breaker,
        "requests": p.requests,
        "successes": p.successes,
        "degraded": p.degraded,
        "queue_length": p.queue_length,
        "utilisation": p.utilisation,
        "latency_p50": p.latency_p50,
        "latency_p99": p.latency_p99,
        "workers_busy": p.workers_busy,
    }


def _incident_json(figures: IncidentFigures | None) -> dict[str, Any] | None:
    if figures is None:
        return None
    return {
        "requests": figures.requests,
        "successes": figures.successes,
        "degraded": figures.degraded,
        "served_rate": figures.served_rate,
        "success_rate": figures.success_rate,
        "attempts_per_second": figures.attempts_per_second,
        "normal_attempts_per_second": figures.normal_attempts_per_second,
        "load_factor": figures.load_factor,
    }


def _strategy_json(result: StrategyResult) -> dict[str, Any]:
    data: dict[str, Any] = {
        "logical_requests": result.logical_requests,
        "successes": result.successes,
        "degraded": result.degraded,
        "success_rate": result.success_rate,
        "served_rate": result.served_rate,
        "attempts": result.attempts,
        "amplification": result.amplification,
        "latency": {
            "p50": result.latency_p50,
            "p95": result.latency_p95,
            "p99": result.latency_p99,
        },
        "recovery_seconds": result.recovery_seconds,
        "mean_queue_wait": result.mean_queue_wait,
        "during_incident": _incident_json(result.incident),
        "breaker_transitions": [
            {
                "run": tr.run,
                "t": tr.t,
                "policy": tr.policy,
                "from": tr.old,
                "to": tr.new,
                "reason": tr.reason,
            }
            for tr in result.transitions
        ],
        "timeline": [_point_json(p) for p in result.timeline],
    }
    if result.dependencies:
        data["dependencies"] = {n: _strategy_json(r) for n, r in result.dependencies.items()}
    return data


def to_json(result: SimulationResult | ContentionResult) -> dict[str, Any]:
    """The ``--json`` document for a result (the layout is documented in the simulator guide)."""
    if isinstance(result, ContentionResult):
        return {
            "scenario": result.scenario.name,
            "seed": result.seed,
            "runs": result.runs,
            "sweep": [
                {
                    "clients": p.clients,
                    "strategy": p.strategy,
                    "calls": p.calls,
                    "completion_seconds": p.completion_seconds,
                }
                for p in result.sweep
            ],
        }
    scenario = result.scenario
    incident = scenario.incident()
    return {
        "scenario": scenario.name,
        "seed": result.seed,
        "runs": result.runs,
        "duration": scenario.duration,
        "incident": None if incident is None else {"start": incident[0], "end": incident[1]},
        "dependencies": [d.name for d in scenario.routes()],
        "workers": scenario.workers,
        "strategies": {name: _strategy_json(r) for name, r in result.strategies.items()},
    }


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def _pct(share: float) -> str:
    return f"{share:.1%}"


def _recovery(result: SimulationResult, r: StrategyResult) -> str:
    if result.scenario.incident() is None:
        return "-"
    if r.recovery_seconds is None:
        return "did not recover"
    return f"{r.recovery_seconds:.0f} s"


def table_rows(result: SimulationResult) -> list[tuple[str, ...]]:
    """One row per strategy, in the order of `TABLE_HEADERS`."""
    rows: list[tuple[str, ...]] = []
    for name, r in result.strategies.items():
        factor = None if r.incident is None else r.incident.load_factor
        rows.append(
            (
                name,
                _pct(r.served_rate),
                _pct(r.success_rate),
                _pct(r.degraded / r.logical_requests if r.logical_requests else 0.0),
                _ms(r.latency_p50),
                _ms(r.latency_p99),
                f"{r.amplification:.2f}x",
                "-" if factor is None else f"{factor:.2f}x",
                _recovery(result, r),
            )
        )
    return rows


Table = tuple[str, tuple[str, ...], list[tuple[str, ...]]]


def tables(result: SimulationResult | ContentionResult) -> list[Table]:
    """The report's tables as ``(label, headers, rows)``, the main one first (label ``""``).

    A contention sweep has one; a scenario has the strategies' table and, when it
    names dependencies, one row per strategy and dependency (``"per dependency"``).
    """
    if isinstance(result, ContentionResult):
        return [("", CONTENTION_HEADERS, contention_rows(result))]
    found: list[Table] = [("", TABLE_HEADERS, table_rows(result))]
    per_dependency = dependency_rows(result)
    if per_dependency:
        found.append(("per dependency", DEPENDENCY_HEADERS, per_dependency))
    return found


def dependency_rows(result: SimulationResult) -> list[tuple[str, ...]]:
    """One row per strategy and dependency, in the order of `DEPENDENCY_HEADERS` (may be empty)."""
    rows: list[tuple[str, ...]] = []
    for name, r in result.strategies.items():
        for dep, d in r.dependencies.items():
            rows.append(
                (
                    name,
                    dep,
                    _pct(d.served_rate),
                    _pct(d.success_rate),
                    _pct(d.degraded / d.logical_requests if d.logical_requests else 0.0),
                    _ms(d.latency_p99),
                    "-" if d.incident is None else _pct(d.incident.served_rate),
                )
            )
    return rows


def contention_rows(result: ContentionResult) -> list[tuple[str, ...]]:
    """One row per client count and variant: mean write calls and completion time."""
    return [
        (str(p.clients), p.strategy, f"{p.calls:.0f}", f"{p.completion_seconds * 1000:.0f} ms")
        for p in result.sweep
    ]
