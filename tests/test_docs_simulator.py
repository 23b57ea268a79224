"""The simulator guide shows the simulator's real output and its real JSON layout.

Each table or quote in docs/simulator.md under ``<!-- docs: output of brace
simulate SCENARIO -->`` is compared, cell by cell, with a run of that built-in
scenario at its default seed. The four runs take about half a minute, so those
tests are marked ``once``: scripts/test runs them on the first Python version
only. The JSON layout shown in the guide is compared with a short run's keys.
"""

from __future__ import annotations

import functools
import re
import textwrap
from typing import Any

import pytest

from brace.sim import (
    Contention,
    ContentionResult,
    Dependency,
    OpenLoop,
    Outage,
    Scenario,
    Service,
    SimulationResult,
    builtin_scenarios,
    load_scenario,
    run_contention,
    simulate,
)
from brace.sim._explain import explain
from brace.sim._report import dependency_rows, table_rows, to_json
from tests.docs_pages import DOCS

GUIDE = DOCS / "simulator.md"
MARK = re.compile(r"^<!-- docs: output of brace simulate (\S+) -->$")


def shown() -> list[tuple[str, list[str]]]:
    """(scenario, lines) for every marked table or quote in the guide."""
    lines = GUIDE.read_text(encoding="utf-8").splitlines()
    found = []
    for i, line in enumerate(lines):
        mark = MARK.match(line)
        if mark is None:
            continue
        end = i + 1
        while end < len(lines) and lines[end].strip():
            end += 1
        found.append((mark[1], lines[i + 1 : end]))
    return found


@functools.cache
def run(name: str) -> SimulationResult | ContentionResult:
    """What ``brace simulate NAME`` computes, with the scenario's own seed and strategies."""
    scenario = load_scenario(name)
    if isinstance(scenario, Contention):
        return run_contention(scenario)
    return simulate(scenario)


def cells(row: str) -> list[str]:
    return [c.strip() for c in row.strip().strip("|").split("|")]


def check_table(name: str, table: list[str]) -> None:
    header, rows = cells(table[0]), [cells(r) for r in table[2:]]
    result = run(name)
    if isinstance(result, ContentionResult):
        check_contention(header, rows, result)
        return
    real = dependency_rows(result) if "dependency" in header else table_rows(result)
    by_key = {row[: 2 if "dependency" in header else 1]: list(row) for row in real}
    for row in rows:
        key = tuple(row[: 2 if "dependency" in header else 1])
        assert by_key[key] == row, f"{name}: the guide shows {row}, the simulator {by_key[key]}"
    if "dependency" not in header:
        assert [r[0] for r in rows] == [r[0] for r in real]


def check_contention(header: list[str], rows: list[list[str]], result: ContentionResult) -> None:
    measure = "calls" if "calls" in header[1] else "completion"
    variants = [h.removesuffix(": calls").removesuffix(": completion") for h in header[1:]]
    points = {(p.clients, p.strategy): p for p in result.sweep}
    for row in rows:
        clients = int(row[0])
        for variant, cell in zip(variants, row[1:], strict=True):
            point = points[clients, variant]
            if measure == "calls":
                assert int(cell.replace(",", "")) == round(point.calls), (clients, variant)
            else:
                number = cell.removesuffix(" s")
                decimals = len(number.partition(".")[2])
                expected = f"{point.completion_seconds:.{decimals}f}"
                assert number == expected, (clients, variant)


def check_quote(name: str, quote: list[str]) -> None:
    result = run(name)
    text = " ".join(line.removeprefix(">").strip() for line in quote)
    sentences = " ".join(explain(result))
    assert text in sentences, f"{name}: the guide quotes {text!r}; the simulator says {sentences!r}"


@pytest.mark.once
@pytest.mark.parametrize("index", range(len(shown())))
def test_the_guide_shows_the_simulator_s_real_output(index: int) -> None:
    name, lines = shown()[index]
    assert name in builtin_scenarios()
    if lines[0].startswith(">"):
        check_quote(name, lines)
    else:
        check_table(name, lines)


@pytest.mark.once
def test_the_outage_s_breaker_story_is_the_real_one() -> None:
    result = run("outage")
    assert isinstance(result, SimulationResult)
    transitions = result.strategies["brace"].transitions
    prose = " ".join(GUIDE.read_text(encoding="utf-8").split())
    first, last = transitions[0], transitions[-1]
    assert f"the trip at t={first.t:.1f} s" in prose
    assert f"at t={last.t:.0f} s, finds the dependency back and closes it" in prose
    assert f"({len(transitions)} transitions)" in prose
    assert last.new == "closed"


def test_every_marked_output_names_a_built_in_scenario() -> None:
    assert {name for name, _ in shown()} <= set(builtin_scenarios())
    assert len(shown()) == 8


def keys(value: Any, prefix: str = "") -> set[str]:
    """Every key path in ``value``: ``strategies.*.latency.p50``; lists and maps by ``*``."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            if prefix.endswith(("strategies", "dependencies")) and isinstance(item, dict):
                path = f"{prefix}.*"
            found.add(path)
            found |= keys(item, path)
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        found |= keys(value[0], f"{prefix}[]")
    return found


def test_the_json_layout_in_the_guide_names_every_key_the_simulator_writes() -> None:
    two = Scenario(
        name="two",
        load=OpenLoop(rate=20),
        duration=12,
        workers=8,
        dependencies=(
            Dependency(name="a", service=Service(servers=2, incidents=(Outage(at=3, duration=4),))),
            Dependency(name="b", service=Service(servers=2)),
        ),
    )
    real = {
        k.rsplit(".", 1)[-1].removesuffix("[]") for k in keys(to_json(simulate(two, ["brace"])))
    }
    layout = textwrap.dedent(GUIDE.read_text(encoding="utf-8").split("## The JSON layout")[1])
    documented = set(re.findall(r'"(\w+)":', layout.split("```")[1]))
    assert real - {"brace", "a", "b", "*"} == documented - {"brace", "payment"}
