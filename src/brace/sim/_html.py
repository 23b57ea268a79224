"""The ``--html`` report: one self-contained page that explains itself.

It opens with sentences saying what happened (`brace.sim._explain`), then
the table with a line per column saying what it measures, then every plot
(inlined as base64 PNG) with a sentence saying how to read it, and the
exact list of circuit breaker transitions. No script, no external resource.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

from brace.sim._contention import ContentionResult
from brace.sim._explain import explain
from brace.sim._plots import PLOT_CAPTIONS, MissingExtraError, render_pngs
from brace.sim._report import tables
from brace.sim._runner import SimulationResult

__all__ = ["COLUMN_NOTES", "MissingExtraError", "render_html", "render_pngs"]

#: One sentence per table column, shown under the tables.
COLUMN_NOTES = {
    "strategy": "The policy the simulated callers used (see the simulator guide for each).",
    "dependency": "Which of the service's dependencies the requests called.",
    "served": "Requests that got an answer: fresh from the dependency or from a fallback.",
    "fresh": "Requests the dependency itself answered (the success rate).",
    "degraded": "Requests a fallback answered instead: a remembered answer or a static one.",
    "p50": "Median time a caller waited for its request, failures included.",
    "p99": "Time the slowest 1% of callers waited, failures included.",
    "amplification": (
        "Attempts that reached the dependency per request: above 1x retries add load, "
        "below 1x a breaker or a bulkhead spared it calls."
    ),
    "incident load": (
        "Attempts per second reaching the dependency during the incident, relative to "
        "before it: the load a strategy puts on a dependency that is trying to recover."
    ),
    "recovery": (
        "Seconds from the end of the incident until the fresh answers are back within 5 "
        "points of their level before it (and stay there for 5 s)."
    ),
    "served in incident": "Requests answered (fresh or degraded) among those that arrived "
    "during the incident.",
    "clients": "Clients each writing one row once.",
    "calls": "Write calls the server handled, mean per run.",
    "completion": "Time until every client had written, mean per run.",
}

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;"
    "color:#222;line-height:1.45}"
    "table{border-collapse:collapse;margin:1em 0}td,th{padding:.3em .8em;"
    "border-bottom:1px solid #ddd;text-align:right}td:first-child,th:first-child{text-align:left}"
    "img{max-width:100%}figure{margin:2em 0}figcaption{color:#444;font-size:.95em}"
    "dt{font-weight:600}dd{margin:0 0 .4em 1.5em}.lesson{background:#f4f7fb;padding:.6em 1em;"
    "border-left:4px solid #1565c0}details{margin:1em 0}code{font-size:.9em}"
)


def _table(headers: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _notes(headers: tuple[str, ...]) -> str:
    items = "".join(
        f"<dt>{html.escape(h)}</dt><dd>{html.escape(COLUMN_NOTES[h])}</dd>"
        for h in headers
        if h in COLUMN_NOTES
    )
    return f"<details open><summary>What the columns mean</summary><dl>{items}</dl></details>"


def _figures(pngs: dict[str, bytes]) -> str:
    return "".join(
        f'<figure><img alt="{html.escape(key)}" src="data:image/png;base64,'
        f'{base64.b64encode(data).decode("ascii")}">'
        f"<figcaption>{html.escape(PLOT_CAPTIONS.get(key, ''))}</figcaption></figure>"
        for key, data in pngs.items()
    )


def _transitions(result: SimulationResult) -> str:
    parts = []
    for name, r in result.strategies.items():
        if not r.transitions:
            continue
        rows = [
            (str(tr.run), f"{tr.t:.3f} s", tr.policy, f"{tr.old} -> {tr.new}", tr.reason)
            for tr in r.transitions
        ]
        parts.append(
            f"<details><summary>{html.escape(name)}: {len(rows)} breaker transitions"
            "</summary>"
            + _table(("run", "time", "breaker", "change", "reason"), rows)
            + "</details>"
        )
    if not parts:
        return ""
    return (
        "<h2>Breaker transitions</h2><p>Every state change of every circuit breaker, at the "
        "virtual time it happened (run 0 is the first seed).</p>" + "".join(parts)
    )


def render_html(result: SimulationResult | ContentionResult) -> str:
    """One self-contained HTML page: what happened, the table, every plot, each explained."""
    pngs = render_pngs(result)
    name, description = result.scenario.name, result.scenario.description
    shown = tables(result)
    html_tables = "".join(
        (f"<h2>{html.escape(label.capitalize())}</h2>" if label else "") + _table(headers, rows)
        for label, headers, rows in shown
    )
    html_tables += _notes(tuple(dict.fromkeys(h for _, headers, _ in shown for h in headers)))
    if isinstance(result, ContentionResult):
        meta = f"seed {result.seed}, mean of {result.runs} runs per point"
        extra = ""
    else:
        meta = f"seed {result.seed}, {result.runs} run(s) per strategy"
        extra = _transitions(result)
    lesson = "".join(f"<p>{html.escape(s)}</p>" for s in explain(result))
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>brace simulate: {html.escape(name)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>brace simulate: {html.escape(name)}</h1>"
        f"<p>{html.escape(description)}</p><p><small>{html.escape(meta)}</small></p>"
        f"<h2>What happened</h2><div class='lesson'>{lesson}</div>"
        f"<h2>Figures</h2>{html_tables}<h2>Plots</h2>{_figures(pngs)}{extra}</body></html>"
    )
