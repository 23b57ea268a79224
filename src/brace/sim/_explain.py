"""Sentences that say what a simulation showed, computed from its figures.

The terminal report prints them after the table and the HTML report opens
with them, so a reader does not have to work out the lesson from columns:
how much load each strategy sent the dependency during the incident, how
many requests it still answered and how (fresh or from a fallback), how
long it took to recover and, when the service calls several dependencies,
whether a failing one took the others down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from brace.sim._contention import ContentionResult
from brace.sim._metrics import StrategyResult
from brace.sim._runner import SimulationResult

__all__ = ["explain"]

#: Busy workers at or above this share of the pool count as "the pool was full".
_FULL_POOL = 0.95
#: A strategy whose other dependencies all served at least this much during the incident
#: kept them isolated from the failing one.
_ISOLATED = 0.9


def _names(names: Iterable[str]) -> str:
    items = list(names)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _grouped(values: dict[str, float], pick: Callable[[Iterable[float]], float], fmt: str) -> str:
    """The names whose value, as printed with ``fmt``, equals the printed ``pick`` of all."""
    target = format(pick(values.values()), fmt)
    return _names(n for n, v in values.items() if format(v, fmt) == target)


def explain(result: SimulationResult | ContentionResult) -> list[str]:
    """A few sentences that say what ``result`` shows, with its numbers."""
    if isinstance(result, ContentionResult):
        return _contention(result)
    incident = result.scenario.incident()
    strategies = result.strategies
    if incident is None or not strategies:
        if not strategies:
            return []
        served = {n: r.served_rate for n, r in strategies.items()}
        best = _grouped(served, max, ".1%")
        return [f"No incident in this scenario; {best} served the most requests."]
    window = f"the incident (t={incident[0]:g}-{incident[1]:g} s)"
    failing = [d.name for d in result.scenario.routes() if d.service.incidents]
    if len(result.scenario.routes()) > 1 and len(failing) == 1:
        # Several dependencies: the load that matters is the one on the failing dependency.
        target = failing[0]
        by_target = {n: r.dependencies[target] for n, r in strategies.items()}
        load = _load(by_target, window, target)
    else:
        load = _load(strategies, window, "the dependency")
    return [
        *load,
        *_serving(strategies),
        *_isolation(result),
        *_recovery(strategies),
    ]


def _load(strategies: dict[str, StrategyResult], window: str, target: str) -> list[str]:
    factors = {
        n: r.incident.load_factor
        for n, r in strategies.items()
        if r.incident is not None and r.incident.load_factor is not None
    }
    if not factors:
        return []
    high = max(factors, key=lambda n: factors[n])
    figures = strategies[high].incident
    assert figures is not None  # noqa: S101 - factors only holds strategies with figures
    sentence = (
        f"During {window}, {_grouped(factors, max, '.2f')} sent {factors[high]:.2f}x "
        f"{'its' if _grouped(factors, max, '.2f') == high else 'their'} normal load to "
        f"{target} ({figures.attempts_per_second:.0f} attempts/s instead of "
        f"{figures.normal_attempts_per_second:.0f})"
    )
    low = min(factors.values())
    if format(low, ".2f") != format(factors[high], ".2f"):
        sentence += f"; {_grouped(factors, min, '.2f')} sent {low:.2f}x"
    return [sentence + "."]


def _serving(strategies: dict[str, StrategyResult]) -> list[str]:
    inside = {n: r.incident for n, r in strategies.items() if r.incident is not None}
    if not inside:
        return []
    served = {n: f.served_rate for n, f in inside.items()}
    degrading = {n: f for n, f in inside.items() if f.degraded}
    plain = {n: served[n] for n in inside if not inside[n].degraded}
    if not degrading:
        sentence = (
            f"Of the requests that arrived during it, {_grouped(served, max, '.0%')} "
            f"answered the most: {max(served.values()):.0%}; no strategy has a fallback."
        )
        return [sentence]
    best = max(degrading, key=lambda n: served[n])
    f = degrading[best]
    answered = f.successes + f.degraded
    sentence = (
        f"{best} served {f.served_rate:.0%} of the requests that arrived during it, "
        f"{f.degraded / answered:.0%} of them from its fallbacks"
    )
    if plain:
        top = _grouped(plain, max, ".0%")
        sentence += f"; without a fallback, the best, {top}, served {max(plain.values()):.0%}"
    return [sentence + "."]


def _isolation(result: SimulationResult) -> list[str]:
    routes = result.scenario.routes()
    if len(routes) < 2:
        return []
    failing = [d.name for d in routes if d.service.incidents]
    others = [d.name for d in routes if not d.service.incidents]
    if not failing or not others:
        return []
    rates: dict[str, list[float]] = {}
    for name, r in result.strategies.items():
        figures = [r.dependencies[o].incident for o in others]
        rates[name] = [f.served_rate if f is not None else 0.0 for f in figures]
    worst = min(rates, key=lambda n: sum(rates[n]))

    def listed(name: str) -> str:
        return _names(f"{x:.0%}" for x in rates[name])

    sentence = (
        f"While {_names(failing)} failed, {_names(others)} served {listed(worst)} of "
        f"{'its' if len(others) == 1 else 'their'} requests under {worst}"
    )
    pool, incident = result.scenario.workers, result.scenario.incident()
    full = pool is not None and incident is not None
    if full and _pool_full(result.strategies[worst], pool or 0, incident or (0.0, 0.0)):
        sentence += f" (all {pool} of the service's workers were busy)"
    kept = [n for n in rates if min(rates[n]) >= _ISOLATED]
    if not kept or worst in kept:
        return [sentence + "."]
    groups: dict[str, list[str]] = {}
    for name in kept:
        groups.setdefault(listed(name), []).append(name)
    under = _names(f"{figures} under {_names(names)}" for figures, names in groups.items())
    return [sentence + f", but {under}."]


def _pool_full(r: StrategyResult, pool: int, incident: tuple[float, float]) -> bool:
    """Whether the worker pool was full at the end of most seconds of the incident."""
    busy = [
        p.workers_busy
        for p in r.timeline
        if p.workers_busy is not None and incident[0] <= p.t < incident[1]
    ]
    full = sum(1 for b in busy if b >= _FULL_POOL * pool)
    return bool(busy) and full * 2 > len(busy)


def _recovery(strategies: dict[str, StrategyResult]) -> list[str]:
    at_once = [n for n, r in strategies.items() if r.recovery_seconds == 0]
    later = {n: r.recovery_seconds for n, r in strategies.items() if r.recovery_seconds}
    never = [n for n, r in strategies.items() if r.recovery_seconds is None]
    parts = []
    if at_once:
        parts.append(f"{_names(at_once)} answered fresh again at once")
    for seconds in sorted(set(later.values())):
        names = [n for n, s in later.items() if s == seconds]
        parts.append(f"{_names(names)} after {seconds:.0f} s")
    if never:
        parts.append(f"{_names(never)} did not recover before the run ended")
    if not parts:
        return []
    return ["After it ended, " + "; ".join(parts) + "."]


def _contention(result: ContentionResult) -> list[str]:
    if not result.sweep:
        return []
    most = max(p.clients for p in result.sweep)
    points = {p.strategy: p for p in result.sweep if p.clients == most}
    calls = {n: p.calls for n, p in points.items()}
    times = {n: p.completion_seconds for n, p in points.items()}
    cheapest = min(calls, key=lambda n: calls[n])
    costliest = max(calls, key=lambda n: calls[n])
    slowest = max(times, key=lambda n: times[n])
    first = (
        f"With {most} clients, {costliest} made the most write calls ({calls[costliest]:,.0f} "
        f"per run) and {cheapest} the fewest ({calls[cheapest]:,.0f}, "
        f"{calls[costliest] / calls[cheapest]:.1f}x fewer)."
    )
    sentences = [first]
    if len(times) > 1:
        sentences.append(f"{slowest} took the longest to finish: {times[slowest]:.1f} s.")
    return sentences
