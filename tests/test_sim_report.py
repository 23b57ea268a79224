"""The report explains itself: sentences from the figures, an HTML page that reads on its own.

The browser check opens the HTML report in headless Chromium (Debian's
``chromium``, driven by Playwright for Python) and fails on any console
error or image that does not load. It is skipped where Chromium or
Playwright is missing, except with ``BRACE_REQUIRE_ALL=1`` (CI), where that
is a failure. ``BRACE_UPDATE_DOCS_IMAGES=1`` also rewrites the simulator
guide's pictures in ``docs/img/`` from the default scenarios.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from brace.sim import (
    Contention,
    OpenLoop,
    Outage,
    Scenario,
    Service,
    load_scenario,
    run_contention,
    simulate,
)
from brace.sim._explain import explain
from brace.sim._html import COLUMN_NOTES, render_html
from brace.sim._plots import PLOT_CAPTIONS, render_pngs
from brace.sim._report import DEPENDENCY_HEADERS, TABLE_HEADERS, to_json
from brace.sim._runner import SimulationResult
from tests.browser import CHROMIUM, CHROMIUM_ARGS, sync_playwright_or_skip

DOCS_IMG = Path(__file__).resolve().parent.parent / "docs" / "img"


def _small() -> Scenario:
    return Scenario(
        name="small",
        description="a 10 s outage",
        duration=40,
        load=OpenLoop(rate=50),
        service=Service(servers=5, incidents=(Outage(at=10, duration=10),)),
    )


@pytest.fixture(scope="module")
def small_result() -> SimulationResult:
    return simulate(_small(), ["naive-retry", "breaker", "brace"])


def test_sentences_say_what_happened_with_the_run_s_own_numbers(
    small_result: SimulationResult,
) -> None:
    sentences = explain(small_result)
    data = to_json(small_result)["strategies"]
    load, serving, recovery = sentences
    naive = data["naive-retry"]["during_incident"]
    assert load.startswith("During the incident (t=10-20 s), naive-retry sent ")
    assert f"{naive['load_factor']:.2f}x its normal load" in load
    careful = data["brace"]["during_incident"]
    assert serving.startswith(f"brace served {careful['served_rate']:.0%} of the requests")
    assert re.search(r"without a fallback, the best, [a-z -]*breaker, served \d+%", serving)
    assert recovery.startswith("After it ended, ")


def test_sentences_for_an_isolation_scenario_name_the_bystanders(short_bulkhead: Scenario) -> None:
    result = simulate(short_bulkhead, ["no-retry", "bulkhead"])
    text = " ".join(explain(result))
    assert "While payment failed, inventory and shipping served" in text
    assert "under no-retry (all 40 of the service's workers were busy)" in text
    assert re.search(r"but (9\d|100)% and (9\d|100)% under bulkhead", text)


def test_html_explains_every_column_and_every_plot(small_result: SimulationResult) -> None:
    pytest.importorskip("matplotlib")
    page = render_html(small_result)
    for header in TABLE_HEADERS:
        assert f"<dt>{header}</dt>" in page
        assert header in COLUMN_NOTES
    assert set(DEPENDENCY_HEADERS) <= set(COLUMN_NOTES)
    pngs = render_pngs(small_result)
    assert set(pngs) == {"answers", "attempts", "latency", "breaker"}
    assert page.count("<figcaption>") == len(pngs)
    for key in pngs:
        assert PLOT_CAPTIONS[key] in page.replace("&#x27;", "'")
    assert "What happened" in page
    count = len(small_result.strategies["brace"].transitions)
    assert f"brace: {count} breaker transitions" in page
    assert page.count("half_open -&gt; ") == 2 * sum(
        1 for tr in small_result.strategies["brace"].transitions if tr.old == "half_open"
    )  # the breaker and brace strategies log the same transitions
    assert "<script" not in page
    assert "http" not in page


def test_html_for_several_dependencies_adds_per_dependency_and_worker_plots(
    short_bulkhead: Scenario,
) -> None:
    pytest.importorskip("matplotlib")
    result = simulate(short_bulkhead, ["no-retry", "brace"])
    pngs = render_pngs(result)
    assert {"dependencies", "workers", "breaker"} <= set(pngs)
    page = render_html(result)
    assert "<h2>Per dependency</h2>" in page
    for header in DEPENDENCY_HEADERS:
        assert f"<dt>{header}</dt>" in page
    assert page.count("<figcaption>") == len(pngs)


def _open(sync_playwright: Any, page_file: Path, screenshot: Path) -> list[str]:
    """Open ``page_file`` in headless Chromium; return console errors; save a screenshot."""
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(page_file.as_uri())
            broken = page.evaluate(
                "[...document.images].filter(i => !i.complete || i.naturalWidth === 0).length"
            )
            if broken:
                problems.append(f"{broken} images did not load")
            page.screenshot(path=str(screenshot), full_page=False)
        finally:
            browser.close()
    return problems


def test_html_report_renders_in_chromium_without_console_errors(
    small_result: SimulationResult, tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    sync_playwright = sync_playwright_or_skip()
    page_file = tmp_path / "report.html"
    page_file.write_text(render_html(small_result), encoding="utf-8")
    screenshot = tmp_path / "report.png"
    assert _open(sync_playwright, page_file, screenshot) == []
    assert screenshot.stat().st_size > 10_000


@pytest.mark.skipif(
    os.environ.get("BRACE_UPDATE_DOCS_IMAGES") != "1",
    reason="rewrites docs/img only with BRACE_UPDATE_DOCS_IMAGES=1",
)
def test_update_the_simulator_guide_s_pictures(tmp_path: Path) -> None:
    sync_playwright = sync_playwright_or_skip()
    for name, prefix in (("outage", "sim-outage"), ("bulkhead", "sim-bulkhead")):
        scenario = load_scenario(name)
        assert isinstance(scenario, Scenario)
        result = simulate(scenario)
        for key, data in render_pngs(result).items():
            (DOCS_IMG / f"{prefix}-{key}.png").write_bytes(data)
        if name == "outage":
            page_file = tmp_path / "report.html"
            page_file.write_text(render_html(result), encoding="utf-8")
            assert _open(sync_playwright, page_file, DOCS_IMG / "sim-report.png") == []
    spike = load_scenario("overload-spike")
    assert isinstance(spike, Scenario)
    for key, data in render_pngs(simulate(spike)).items():
        if key in {"answers", "attempts"}:
            (DOCS_IMG / f"sim-overload-{key}.png").write_bytes(data)
    contention = load_scenario("contention")
    assert isinstance(contention, Contention)
    for key, data in render_pngs(run_contention(contention)).items():
        (DOCS_IMG / f"sim-contention-{key}.png").write_bytes(data)
