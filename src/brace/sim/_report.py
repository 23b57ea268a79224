"""Results as plain data: the ``--json`` layout and the table rows.

The JSON layout is a contract (DESIGN.md, "Decisions"): scripts and
dashboards read it. Keys may be added, never renamed or removed.
"""

from __future__ import annotations

from typing import Any

from brace.sim._contention import ContentionResult
from brace.sim._metrics import StrategyResult
from brace.sim._runner import SimulationResult

__all__ = ["TABLE_HEADERS", "contention_rows", "table_rows", "to_json"]

TABLE_HEADERS = ("strategy", "success", "p50", "p99", "amplification", "recovery")
CONTENTION_HEADERS = ("clients", "strategy", "calls", "completion")


def _strategy_json(result: StrategyResult) -> dict[str, Any]:
    return {
        "logical_requests": result.logical_requests,
        "successes": result.successes,
        "success_rate": result.success_rate,
        "attempts": result.attempts,
        "amplification": result.amplification,
        "latency": {
            "p50": result.latency_p50,
            "p95": result.latency_p95,
            "p99": result.latency_p99,
        },
        "recovery_seconds": result.recovery_seconds,
        "timeline": [
            {
                "t": p.t,
                "success_rate": p.success_rate,
                "attempts": p.attempts,
                "in_flight": p.in_flight,
                "breaker": p.breaker,
                "requests": p.requests,
                "successes": p.successes,
                "queue_length": p.queue_length,
                "utilisation": p.utilisation,
                "latency_p50": p.latency_p50,
                "latency_p99": p.latency_p99,
            }
            for p in result.timeline
        ],
    }


def to_json(result: SimulationResult | ContentionResult) -> dict[str, Any]:
    """The ``--json`` document for a result (see DESIGN.md for the layout)."""
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
        "strategies": {name: _strategy_json(r) for name, r in result.strategies.items()},
    }


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def table_rows(result: SimulationResult) -> list[tuple[str, ...]]:
    """One row per strategy: success rate, p50, p99, amplification, time to recover."""
    rows: list[tuple[str, ...]] = []
    for name, r in result.strategies.items():
        if result.scenario.incident() is None:
            recovery = "-"
        elif r.recovery_seconds is None:
            recovery = "did not recover"
        else:
            recovery = f"{r.recovery_seconds:.0f} s"
        rows.append(
            (
                name,
                f"{r.success_rate:.1%}",
                _ms(r.latency_p50),
                _ms(r.latency_p99),
                f"{r.amplification:.2f}x",
                recovery,
            )
        )
    return rows


def contention_rows(result: ContentionResult) -> list[tuple[str, ...]]:
    """One row per client count and variant: mean write calls and completion time."""
    return [
        (str(p.clients), p.strategy, f"{p.calls:.0f}", f"{p.completion_seconds * 1000:.0f} ms")
        for p in result.sweep
    ]
