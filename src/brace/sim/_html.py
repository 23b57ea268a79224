"""The ``--html`` report: matplotlib plots embedded in one self-contained file.

matplotlib comes with the ``cli`` extra (``pip install brace[cli]``); it is
imported only when a report is drawn, with the non-interactive Agg backend.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from brace.sim._contention import ContentionResult
from brace.sim._report import CONTENTION_HEADERS, TABLE_HEADERS, contention_rows, table_rows
from brace.sim._runner import SimulationResult

__all__ = ["MissingExtraError", "render_html", "render_pngs"]

_BREAKER_LEVEL = {"closed": 0, "half_open": 1, "open": 2, "forced_open": 2, "disabled": 0}


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


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    fig.clf()
    return buf.getvalue()


def _series(result: SimulationResult, metric: str) -> dict[str, tuple[list[int], list[float]]]:
    out = {}
    for name, r in result.strategies.items():
        xs, ys = [], []
        for p in r.timeline:
            value = getattr(p, metric)
            if metric == "breaker":
                value = None if value is None else _BREAKER_LEVEL.get(value, 0)
            if value is not None:
                xs.append(p.t)
                ys.append(float(value))
        out[name] = (xs, ys)
    return out


_PLOTS = (
    ("success_rate", "success_rate", "Success rate of requests started each second", "share"),
    ("attempts", "attempts", "Load on the dependency: attempts per second", "attempts/s"),
    ("latency", "latency_p99", "Latency p99 of requests started each second", "seconds"),
    ("breaker", "breaker", "Circuit breaker state (0 closed, 1 half-open, 2 open)", "state"),
)


def render_pngs(result: SimulationResult | ContentionResult) -> dict[str, bytes]:
    """The report's plots as PNG bytes, by name (also used to build the docs)."""
    plt = _pyplot()
    if isinstance(result, ContentionResult):
        return _contention_pngs(plt, result)
    pngs = {}
    incident = result.scenario.incident()
    for key, metric, title, unit in _PLOTS:
        series = _series(result, metric)
        if not any(xs for xs, _ in series.values()):
            continue
        fig, ax = plt.subplots(figsize=(9, 3.2))
        if incident is not None:
            ax.axvspan(*incident, color="tab:red", alpha=0.12, label="incident")
        for name, (xs, ys) in series.items():
            if xs:
                ax.plot(xs, ys, label=name, linewidth=1.4, drawstyle="steps-post")
        ax.set_title(title)
        ax.set_xlabel("simulated seconds")
        ax.set_ylabel(unit)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", ncol=3)
        pngs[key] = _png(fig)
        plt.close(fig)
    return pngs


def _contention_pngs(plt: Any, result: ContentionResult) -> dict[str, bytes]:
    pngs = {}
    for key, attr, title, unit, scale in (
        ("calls", "calls", "Write calls at the server (mean per run)", "calls", 1.0),
        ("completion", "completion_seconds", "Time until every client wrote", "ms", 1000.0),
    ):
        fig, ax = plt.subplots(figsize=(7, 3.6))
        for variant in result.scenario.variants:
            points = [p for p in result.sweep if p.strategy == variant]
            ax.plot(
                [p.clients for p in points],
                [getattr(p, attr) * scale for p in points],
                marker="o",
                label=variant,
            )
        ax.set_title(title)
        ax.set_xlabel("clients")
        ax.set_ylabel(unit)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        pngs[key] = _png(fig)
        plt.close(fig)
    return pngs


def _table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse}td,th{padding:.3em .8em;border-bottom:1px solid #ddd;"
    "text-align:right}td:first-child,th:first-child{text-align:left}img{max-width:100%}"
)


def render_html(result: SimulationResult | ContentionResult) -> str:
    """One self-contained HTML page: the table and every plot inlined as base64 PNG."""
    pngs = render_pngs(result)
    if isinstance(result, ContentionResult):
        name, description = result.scenario.name, result.scenario.description
        table = _table(CONTENTION_HEADERS, contention_rows(result))
        meta = f"seed {result.seed}, mean of {result.runs} runs per point"
    else:
        name, description = result.scenario.name, result.scenario.description
        table = _table(TABLE_HEADERS, table_rows(result))
        meta = f"seed {result.seed}, {result.runs} run(s) per strategy"
    images = "".join(
        f'<p><img alt="{html.escape(key)}" src="data:image/png;base64,'
        f'{base64.b64encode(data).decode("ascii")}"></p>'
        for key, data in pngs.items()
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>brace simulate: {html.escape(name)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>brace simulate: {html.escape(name)}</h1>"
        f"<p>{html.escape(description)}</p><p><small>{html.escape(meta)}</small></p>"
        f"{table}{images}</body></html>"
    )
