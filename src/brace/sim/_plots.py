"""The report's plots, drawn with matplotlib (the ``cli`` extra), as PNG bytes.

Strategies are drawn as small multiples: one panel per strategy, its own
line in colour over the others' in light grey, so lines that would lie on
top of each other in one chart stay readable. Breaker plots draw every
state change at the exact virtual time it happened (from the first run),
half-open probes included, with a marker per transition.

matplotlib is imported only when a report is drawn, with the
non-interactive Agg backend.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from typing import Any

from brace.sim._contention import ContentionResult
from brace.sim._metrics import BreakerTransition, TimelinePoint
from brace.sim._runner import SimulationResult

__all__ = ["PLOT_CAPTIONS", "MissingExtraError", "render_pngs"]

#: One sentence per plot, shown under it in the HTML report.
PLOT_CAPTIONS = {
    "answers": (
        "Each panel is one strategy. For the requests that arrived in each second: the share "
        "answered fresh by the dependency (green), answered by a fallback instead (amber), and "
        "failed (red). The shaded band is the incident."
    ),
    "attempts": (
        "Load on the dependency: attempts per second reaching it, retries included, for each "
        "strategy (coloured) over the other strategies (grey). The dashed line is the rate "
        "before the incident: above it, retries multiply the load; below it, a breaker or a "
        "bulkhead spares the dependency."
    ),
    "latency": (
        "How long the slowest 1% of callers waited (p99 of requests that arrived each second, "
        "failures included), for each strategy over the others in grey."
    ),
    "breaker": (
        "Every circuit breaker state change at the exact time it happened (first run): open "
        "stops calls, half-open lets a few trial calls (probes) through, closed is normal. "
        "Each dot is one transition."
    ),
    "dependencies": (
        "Each panel is one strategy: the share of requests answered (fresh or by a fallback) "
        "per second, one line per dependency. A failing dependency that takes the others "
        "down pulls every line down together."
    ),
    "workers": (
        "The service's shared worker pool: workers busy at the end of each second, for each "
        "strategy over the others in grey. At the dashed line every worker is taken and new "
        "requests wait in line."
    ),
    "calls": "Write calls the server handled, mean per run, against the number of clients.",
    "completion": "Time until every client had written, mean per run.",
}

_FRESH, _DEGRADED, _FAILED = "#2e7d32", "#f9a825", "#c62828"
_CONTEXT = "#c8c8c8"
_STATE_LEVEL = {"closed": 0, "disabled": 0, "half_open": 1, "open": 2, "forced_open": 2}
_LINE_STYLES = ("-", "--", ":", "-.")


class MissingExtraError(RuntimeError):
    """An optional dependency of the report (matplotlib) is not installed."""


def _pyplot() -> Any:
    try:
        import matplotlib as mpl  # noqa: PLC0415 - optional, imported only to draw

        mpl.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        raise MissingExtraError(
            "the HTML report needs matplotlib: pip install 'brace[cli]'"
        ) from None
    return plt


def _png(plt: Any, fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _grid(plt: Any, count: int, title: str, *, sharey: bool = True) -> tuple[Any, list[Any]]:
    cols = 1 if count == 1 else 2 if count <= 4 else 3
    rows = math.ceil(count / cols)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(10, 1.9 * rows + 0.6),
        sharex=True,
        sharey=sharey,
        squeeze=False,
        layout="constrained",
    )
    flat = [ax for row in axes for ax in row]
    for ax in flat[count:]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize="medium")
    return fig, flat[:count]


def _shade(ax: Any, incident: tuple[float, float] | None) -> None:
    if incident is not None:
        ax.axvspan(*incident, color=_FAILED, alpha=0.08, linewidth=0)
    ax.grid(alpha=0.3)


def _label_panels(axes: Sequence[Any], names: Sequence[str], unit: str) -> None:
    for ax, name in zip(axes, names, strict=True):
        ax.set_title(name, fontsize="small", loc="left")
    for ax in axes:
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel(unit, fontsize="small")
        if ax.get_subplotspec().is_last_row() or ax is axes[-1]:
            ax.set_xlabel("simulated seconds", fontsize="small")
            ax.xaxis.set_tick_params(labelbottom=True)


def _series(
    timeline: Sequence[TimelinePoint], value: Callable[[TimelinePoint], float | None]
) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for p in timeline:
        v = value(p)
        if v is not None:
            xs.append(p.t)
            ys.append(v)
    return xs, ys


def _answers(plt: Any, result: SimulationResult) -> bytes:
    strategies = list(result.strategies.values())
    fig, axes = _grid(plt, len(strategies), "How requests were answered, per second")
    for ax, r in zip(axes, strategies, strict=True):
        points = [p for p in r.timeline if p.requests]
        ts = [p.t for p in points]
        fresh = [p.successes / p.requests for p in points]
        degraded = [p.degraded / p.requests for p in points]
        failed = [1 - f - d for f, d in zip(fresh, degraded, strict=True)]
        ax.stackplot(
            ts,
            fresh,
            degraded,
            failed,
            colors=(_FRESH, _DEGRADED, _FAILED),
            labels=("fresh", "degraded", "failed"),
            step="post",
            linewidth=0,
        )
        _shade(ax, result.scenario.incident())
        ax.set_ylim(0, 1)
    _label_panels(axes, [r.name for r in strategies], "share")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=3)
    return _png(plt, fig)


def _multiples(
    plt: Any,
    result: SimulationResult,
    *,
    title: str,
    unit: str,
    value: Callable[[TimelinePoint], float | None],
    reference: float | None = None,
) -> bytes:
    strategies = list(result.strategies.values())
    series = [_series(r.timeline, value) for r in strategies]
    fig, axes = _grid(plt, len(strategies), title)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (ax, (xs, ys)) in enumerate(zip(axes, series, strict=True)):
        for other, (oxs, oys) in enumerate(series):
            if other != index:
                ax.plot(oxs, oys, color=_CONTEXT, linewidth=0.8, drawstyle="steps-post")
        ax.plot(xs, ys, color=colours[index % len(colours)], linewidth=1.5, drawstyle="steps-post")
        if reference is not None:
            ax.axhline(reference, color="#555555", linewidth=0.8, linestyle="--")
        _shade(ax, result.scenario.incident())
    _label_panels(axes, [r.name for r in strategies], unit)
    return _png(plt, fig)


def _normal_attempts(result: SimulationResult) -> float | None:
    rates = [
        r.incident.normal_attempts_per_second
        for r in result.strategies.values()
        if r.incident is not None
    ]
    return max(rates) if rates else None


def _breaker_panels(result: SimulationResult) -> list[tuple[str, list[BreakerTransition]]]:
    panels = []
    for name, r in result.strategies.items():
        first = [tr for tr in r.transitions if tr.run == 0]
        policies = sorted({tr.policy for tr in first}) or (
            [] if all(p.breaker is None for p in r.timeline) else [""]
        )
        for policy in policies:
            label = name if policy in {"", "dependency"} else f"{name}: {policy}"
            panels.append((label, [tr for tr in first if tr.policy == policy]))
    return panels


def _breaker(plt: Any, result: SimulationResult) -> bytes | None:
    panels = _breaker_panels(result)
    if not panels:
        return None
    end = float(result.scenario.duration)
    fig, axes = _grid(plt, len(panels), "Circuit breaker state, every transition")
    for ax, (_, transitions) in zip(axes, panels, strict=True):
        ts, levels = [0.0], [0]
        for tr in transitions:
            ts.append(tr.t)
            levels.append(_STATE_LEVEL.get(tr.new, 0))
        ts.append(max(end, ts[-1]))
        levels.append(levels[-1])
        ax.step(ts, levels, where="post", color="#1565c0", linewidth=1.2)
        ax.plot(ts[1:-1], levels[1:-1], "o", color="#1565c0", markersize=3)
        ax.set_yticks([0, 1, 2], ["closed", "half-open", "open"], fontsize="x-small")
        ax.set_ylim(-0.3, 2.3)
        _shade(ax, result.scenario.incident())
        ax.text(
            0.99,
            0.05,
            f"{len(transitions)} transitions",
            transform=ax.transAxes,
            ha="right",
            fontsize="x-small",
        )
    _label_panels(axes, [label for label, _ in panels], "")
    return _png(plt, fig)


def _dependencies(plt: Any, result: SimulationResult) -> bytes | None:
    strategies = [r for r in result.strategies.values() if r.dependencies]
    if not strategies:
        return None
    fig, axes = _grid(plt, len(strategies), "Requests answered per second, by dependency")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, r in zip(axes, strategies, strict=True):
        for index, (dep, d) in enumerate(r.dependencies.items()):
            xs, ys = _series(d.timeline, lambda p: p.served_rate)
            ax.plot(
                xs,
                ys,
                label=dep,
                color=colours[index % len(colours)],
                linestyle=_LINE_STYLES[index % len(_LINE_STYLES)],
                linewidth=1.4,
                drawstyle="steps-post",
            )
        _shade(ax, result.scenario.incident())
        ax.set_ylim(-0.05, 1.05)
    _label_panels(axes, [r.name for r in strategies], "share")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=3)
    return _png(plt, fig)


def render_pngs(result: SimulationResult | ContentionResult) -> dict[str, bytes]:
    """The report's plots as PNG bytes, by name (the names are keys of `PLOT_CAPTIONS`)."""
    plt = _pyplot()
    if isinstance(result, ContentionResult):
        return _contention_pngs(plt, result)
    if not result.strategies:
        return {}
    pngs = {
        "answers": _answers(plt, result),
        "attempts": _multiples(
            plt,
            result,
            title="Load on the dependency: attempts per second",
            unit="attempts/s",
            value=lambda p: p.attempts,
            reference=_normal_attempts(result),
        ),
        "latency": _multiples(
            plt,
            result,
            title="Latency p99 per second",
            unit="seconds",
            value=lambda p: p.latency_p99,
        ),
    }
    optional = {
        "breaker": _breaker(plt, result),
        "dependencies": _dependencies(plt, result),
    }
    if result.scenario.workers is not None:
        optional["workers"] = _multiples(
            plt,
            result,
            title="Busy workers in the service's shared pool",
            unit="workers",
            value=lambda p: p.workers_busy,
            reference=float(result.scenario.workers),
        )
    pngs.update({k: v for k, v in optional.items() if v is not None})
    return pngs


def _contention_pngs(plt: Any, result: ContentionResult) -> dict[str, bytes]:
    pngs = {}
    for key, attr, title, unit, scale in (
        ("calls", "calls", "Write calls at the server (mean per run)", "calls", 1.0),
        ("completion", "completion_seconds", "Time until every client wrote", "ms", 1000.0),
    ):
        fig, ax = plt.subplots(figsize=(7, 3.6))
        for index, variant in enumerate(result.scenario.variants):
            points = [p for p in result.sweep if p.strategy == variant]
            ax.plot(
                [p.clients for p in points],
                [getattr(p, attr) * scale for p in points],
                marker="os^vD"[index % 5],
                linestyle=_LINE_STYLES[index % len(_LINE_STYLES)],
                label=variant,
            )
        ax.set_title(title)
        ax.set_xlabel("clients")
        ax.set_ylabel(unit)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        pngs[key] = _png(plt, fig)
    return pngs
