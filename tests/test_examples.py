"""The README's example runs and degrades as the README says."""

from __future__ import annotations

import asyncio
import runpy
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


def test_quickstart_serves_fresh_then_cached_then_default_and_stops_calling() -> None:
    namespace = runpy.run_path(str(EXAMPLES / "quickstart.py"))
    outcome: dict[str, Any] = asyncio.run(namespace["main"]())
    assert outcome["fresh"] == ["for-ada-1", "for-ada-2"]
    assert outcome["cached"] == ["for-ada-1", "for-ada-2"]
    assert outcome["stranger"] == ["bestsellers"]
    assert outcome["state"] == "OPEN"
    assert outcome["calls_while_open"] == 0
    assert {"StateChanged", "FallbackUsed", "CallRejected"} <= set(outcome["events"])


def test_readme_pipeline_matches_the_example() -> None:
    readme = (EXAMPLES.parent.parent / "README.md").read_text()
    example = (EXAMPLES / "quickstart.py").read_text()
    for line in (
        'brace.Fallback([brace.LastGood(max_age=300), ["bestsellers"]])',
        "brace.Retry(attempts=3, budget=brace.RetryBudget())",
        'brace.Bulkhead("recs", max_concurrent=20)',
        "brace.Timeout(0.8)",
        "with brace.deadline(2.0):",
    ):
        assert line in readme
        assert line in example
