"""`brace simulate`: output, files, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from brace.cli import main

TINY = """
name = "tiny"
description = "a short outage"
duration = 20
[client]
timeout = 1.0
attempt_timeout = 0.25
[load]
rate = 20
[service]
servers = 4
latency = { distribution = "exponential", mean = 0.02 }
[[incidents]]
kind = "outage"
at = 5
duration = 5
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def test_json_follows_the_documented_layout(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    assert (
        main(
            [
                "simulate",
                str(tiny),
                "--strategy",
                "no-retry",
                "--strategy",
                "brace",
                "--json",
                str(out),
                "--seed",
                "3",
            ]
        )
        == 0
    )
    data = json.loads(out.read_text())
    assert (data["scenario"], data["seed"]) == ("tiny", 3)
    assert list(data["strategies"]) == ["no-retry", "brace"]
    figures = data["strategies"]["brace"]
    assert {
        "logical_requests",
        "successes",
        "degraded",
        "served_rate",
        "during_incident",
        "breaker_transitions",
        "mean_queue_wait",
        "success_rate",
        "attempts",
        "amplification",
        "latency",
        "recovery_seconds",
        "timeline",
    } <= set(figures)
    assert set(figures["latency"]) == {"p50", "p95", "p99"}
    assert len(figures["timeline"]) == 20
    assert {"t", "success_rate", "attempts", "in_flight", "breaker"} <= set(figures["timeline"][0])
    assert figures["timeline"][7]["breaker"] == "open"
    assert figures["served_rate"] == pytest.approx(
        (figures["successes"] + figures["degraded"]) / figures["logical_requests"]
    )
    assert figures["degraded"] > 0
    assert "dependencies" not in figures  # one dependency: no per-dependency breakdown
    assert figures["breaker_transitions"][0]["from"] == "closed"
    assert {"run", "t", "policy", "from", "to", "reason"} == set(figures["breaker_transitions"][0])
    assert data["strategies"]["no-retry"]["timeline"][7]["breaker"] is None


def test_the_table_has_one_row_per_strategy(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", str(tiny), "--strategy", "no-retry", "--strategy", "naive-retry"]) == 0
    out = capsys.readouterr().out
    assert "no-retry" in out
    assert "naive-retry" in out
    assert "amplification" in out


def test_sentences_after_the_table_say_what_happened(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", str(tiny), "--strategy", "naive-retry", "--strategy", "brace"]) == 0
    out = capsys.readouterr().out
    table_end = out.rindex("recovery")
    assert "During the incident (t=5-10 s), naive-retry sent" in out[table_end:]
    assert "brace served" in out
    assert "from its fallbacks" in out


def test_jobs_write_the_same_bytes_as_one_process(tiny: Path, tmp_path: Path) -> None:
    outputs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs{jobs}.json"
        argv = ["simulate", str(tiny), "--strategy", "no-retry", "--strategy", "brace"]
        assert main([*argv, "--jobs", jobs, "--json", str(out)]) == 0
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_without_rich_a_plain_table_is_printed(
    tiny: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "rich", None)
    monkeypatch.setitem(sys.modules, "rich.console", None)
    monkeypatch.setitem(sys.modules, "rich.table", None)
    assert main(["simulate", str(tiny), "--strategy", "no-retry"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == [
        "strategy",
        "served",
        "fresh",
        "degraded",
        "p50",
        "p99",
        "amplification",
        "incident",
        "load",
        "recovery",
    ]
    assert lines[2].startswith("no-retry")


def test_html_is_one_self_contained_file_with_plots(tiny: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "report.html"
    assert main(["simulate", str(tiny), "--strategy", "brace", "--html", str(out)]) == 0
    page = out.read_text()
    assert page.count("data:image/png;base64,") == 4
    assert "<script" not in page
    assert "http" not in page


def test_html_without_matplotlib_says_what_to_install(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "report.html"
    assert main(["simulate", str(tiny), "--strategy", "no-retry", "--html", str(out)]) == 0
    assert "pip install 'brace[cli]'" in capsys.readouterr().err
    assert not out.exists()


def test_contention_writes_the_sweep_layout(tmp_path: Path) -> None:
    out = tmp_path / "sweep.json"
    argv = [
        "simulate",
        "contention",
        "--clients",
        "5,10",
        "--runs",
        "2",
        "--strategy",
        "none",
        "--strategy",
        "full",
        "--json",
        str(out),
    ]
    assert main(argv) == 0
    data = json.loads(out.read_text())
    assert "strategies" not in data
    assert [(p["clients"], p["strategy"]) for p in data["sweep"]] == [
        (5, "none"),
        (5, "full"),
        (10, "none"),
        (10, "full"),
    ]
    assert set(data["sweep"][0]) == {"clients", "strategy", "calls", "completion_seconds"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["simulate", "nope"],
            (
                "unknown scenario 'nope'; expected one of brownout, bulkhead, contention, "
                "outage, overload-spike"
            ),
        ),
        (
            ["simulate", "TINY", "--strategy", "no_such_module:factory"],
            "cannot import module 'no_such_module'",
        ),
        (["simulate", "TINY", "--strategy", "bogus"], "unknown strategy 'bogus'"),
        (["simulate", "BADKEY"], "unknown key 'service.servrs'"),
        (["simulate", "BADTYPE"], "service.servers: expected an integer >= 1, got 'four' (string)"),
        (
            ["simulate", "contention", "--strategy", "brace"],
            "--strategy 'brace': the contention scenario compares backoff variants",
        ),
        (
            ["simulate", "TINY", "--clients", "5"],
            "--clients applies to the contention scenario only",
        ),
        (["simulate", "contention", "--clients", "ten"], "--clients 'ten': expected integers"),
        (["simulate", "TINY", "--jobs", "0"], "--jobs 0: expected an integer >= 1"),
    ],
)
def test_errors_are_one_line_with_exit_status_2(
    argv: list[str], message: str, tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "badkey.toml").write_text(TINY.replace("servers = 4", "servrs = 4"))
    (tmp_path / "badtype.toml").write_text(TINY.replace("servers = 4", "servers = 'four'"))
    paths = {
        "TINY": str(tiny),
        "BADKEY": str(tmp_path / "badkey.toml"),
        "BADTYPE": str(tmp_path / "badtype.toml"),
    }
    assert main([paths.get(a, a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err
    assert err.startswith("brace simulate: error: ")
    assert "Traceback" not in err


def test_no_command_prints_help_with_exit_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "simulate" in capsys.readouterr().out


def test_python_dash_m_brace_works(tiny: Path) -> None:
    done = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "brace", "simulate", str(tiny), "--strategy", "no-retry"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "no-retry" in done.stdout
