"""The README's example runs and degrades as the README says."""

from __future__ import annotations

import asyncio
import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


def test_the_readme_service_degrades_fast_against_a_real_failing_server() -> None:
    namespace = runpy.run_path(str(EXAMPLES / "quickstart.py"))
    rows = {row["phase"]: row for row in asyncio.run(namespace["main"]())}
    fresh = ["for-ada-1", "for-ada-2"]
    assert all(row["answer"] == fresh for row in rows.values())  # fresh, then the last good
    assert rows["healthy"]["requests"] == 1
    assert rows["404"]["requests"] == 1  # an answer: never retried
    assert rows["503 + Retry-After: 5"]["requests"] == 1  # the hint is past the deadline
    assert rows["503 + Retry-After: 5"]["seconds"] < 0.5
    hang = rows["hanging"]
    assert 1 <= hang["requests"] <= 3
    assert hang["longest_timeout"] <= 0.8  # every HTTP attempt got the attempt's timeout
    assert hang["seconds"] <= 2.3  # the request's deadline bounds the whole
    assert rows["refused, until the breaker opens"]["breaker"] == "OPEN"
    opened = rows["refused, breaker open"]
    assert opened["seconds"] < 0.02  # an open breaker fails fast: no wait for open_for


def test_readme_example_is_the_quickstart_example() -> None:
    readme = (EXAMPLES.parent.parent / "README.md").read_text()
    block = readme.split("```python\n", 1)[1].split("```", 1)[0]
    example = (EXAMPLES / "quickstart.py").read_text()
    for line in block.splitlines():
        assert line.strip() in example, line


def test_the_custom_policy_example_meters_sync_async_and_honours_the_deadline() -> None:
    namespace = runpy.run_path(str(EXAMPLES / "custom_policy.py"))
    outcome = namespace["main"]()
    assert outcome == {
        "answer": "ok",
        "fetched": "fetched",
        "calls": 4,  # three attempts through the retry, one async call
        "failures": 2,
        "slowest": 1.5,
        "deadline": "deadline",  # the base checked it on entry; the call never ran
    }


def test_the_http_clients_guide_example_runs_as_the_guide_says() -> None:
    namespace = runpy.run_path(str(EXAMPLES / "http_clients.py"))
    results = namespace["main"]()
    assert results == {
        "GET /flaky (sync)": (200, 3),
        "GET /missing": (404, 1),
        "POST /flaky/post": (503, 1),
        "POST with Idempotency-Key": (200, 3),
        "GET /busy, 5 s deadline": (503, 1),
        "GET /flaky (async)": (200, 3),
    }


def test_the_observability_example_shows_each_window(capsys: pytest.CaptureFixture[str]) -> None:
    namespace = runpy.run_path(str(EXAMPLES / "observability.py"))
    shown = namespace["main"]()
    out = capsys.readouterr().out
    assert "WARNING brace: circuit breaker 'payments' opened: 3 consecutive failures" in out
    assert '"brace_event": "rejections"' in out
    assert 'brace_breaker_state{name="payments",state="OPEN"} 1.0' in shown["scrape"]
    assert "brace.breaker.state" in shown["otel"]
    assert shown["status"]["state"] == "OPEN"
    assert shown["outcomes"][0] == "ConnectionError"
    assert set(shown["outcomes"][1:]) == {"CircuitOpenError"}
