"""brace's own log: on by default, silent until configured, fields in extra, rejections summarised."""

from __future__ import annotations

import io
import itertools
import json
import logging
import re

import pytest
import structlog

import brace
from brace.testing import VirtualClock
from tests.conftest import Driver

FIELDS = "%(levelname)s %(brace_event)s %(brace_policy_type)s %(brace_policy)s | %(message)s"


def rendered(caplog: pytest.LogCaptureFixture, event: str | None = None) -> list[str]:
    formatter = logging.Formatter(FIELDS)
    return [
        formatter.format(r)
        for r in caplog.records
        if r.name == "brace" and (event is None or getattr(r, "brace_event", None) == event)
    ]


def boom() -> None:
    raise ConnectionError("refused")


def ok() -> str:
    return "ok"


def trip(driver: Driver, breaker: brace.CircuitBreaker) -> None:
    with pytest.raises(ConnectionError):
        driver.run(breaker, boom)
    assert breaker.state is brace.State.OPEN


def test_the_brace_logger_has_a_null_handler_so_nothing_shows_unconfigured() -> None:
    handlers = logging.getLogger("brace").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)


def test_a_breaker_opening_is_a_warning_with_the_reason_and_closing_is_info(
    driver: Driver, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="brace")
    breaker = brace.CircuitBreaker(
        "payments", consecutive_failures=1, open_for=5, half_open_calls=1, clock=clock
    )
    trip(driver, breaker)
    clock.advance(5)
    assert driver.run(breaker, ok) == "ok"
    assert rendered(caplog, "state_change") == [
        (
            "WARNING state_change CircuitBreaker payments | circuit breaker 'payments' opened: "
            "1 consecutive failures"
        ),
        (
            "INFO state_change CircuitBreaker payments | circuit breaker 'payments' is half-open, "
            "letting trial calls through: open_for elapsed"
        ),
        (
            "INFO state_change CircuitBreaker payments | circuit breaker 'payments' closed: "
            "1 trial calls succeeded"
        ),
    ]
    opened = next(r for r in caplog.records if getattr(r, "brace_new", None) == "OPEN")
    assert (
        opened.brace_old,  # type: ignore[attr-defined]
        opened.brace_new,  # type: ignore[attr-defined]
        opened.brace_reason,  # type: ignore[attr-defined]
    ) == ("CLOSED", "OPEN", "1 consecutive failures")


def test_manual_moves_are_logged_as_warnings_except_reset(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="brace")
    breaker = brace.CircuitBreaker("manual", clock=clock)
    breaker.force_open()
    breaker.disable()
    breaker.reset()
    assert [
        (r.levelname, r.brace_new)  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == "brace"
    ] == [("WARNING", "FORCED_OPEN"), ("WARNING", "DISABLED"), ("INFO", "CLOSED")]


def test_a_retry_giving_up_is_info_with_the_note(
    driver: Driver, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="brace")
    retry = brace.Retry("fetch", attempts=2, backoff=[1.0], clock=clock)
    with pytest.raises(ConnectionError) as info:
        driver.run(retry, boom)
    (line,) = rendered(caplog, "gave_up")
    note = "brace.Retry 'fetch' gave up after 2 attempts in 1.00 s: no attempts left (attempts=2)"
    assert info.value.__notes__ == [note]
    assert f"INFO gave_up Retry fetch | {note}; last failure: ConnectionError" == line


def test_a_burst_of_100k_rejections_yields_a_bounded_number_of_lines(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="brace")
    breaker = brace.CircuitBreaker("flood", consecutive_failures=1, open_for=1e9, clock=clock)
    with pytest.raises(ConnectionError):
        breaker.call(boom)
    guarded = breaker(ok)
    for _ in range(100_000):  # 100 virtual seconds of rejections
        clock.advance(0.001)
        with pytest.raises(brace.CircuitOpenError):
            guarded()
    summaries = [r for r in caplog.records if getattr(r, "brace_event", "") == "rejections"]
    assert 10 <= len(summaries) <= 11  # the first at once, then one per 10 s at most
    counts = [r.brace_rejected for r in summaries]  # type: ignore[attr-defined]
    seconds = [r.brace_seconds for r in summaries[1:]]  # type: ignore[attr-defined]
    assert counts[0] == 1
    assert all(10.0 <= s < 10.5 for s in seconds)
    assert 89_990 <= sum(counts) <= 90_010  # the last 10 s wait for the next line
    assert breaker.metrics().rejections_total == 100_000
    assert "circuit breaker 'flood' rejected a call; further rejections are summarised" in (
        summaries[0].getMessage()
    )
    assert re.fullmatch(
        r"circuit breaker 'flood' rejected 1000[01] calls in the last 10\.0 s",
        summaries[1].getMessage(),
    )


def test_rejections_on_the_real_clock_stay_bounded_too(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="brace")
    bulkhead = brace.Bulkhead("pool", max_concurrent=1)
    bulkhead._permits.free.pop()  # the only slot is taken
    guarded = bulkhead(ok)
    for _ in range(20_000):
        with pytest.raises(brace.BulkheadFullError):
            guarded()
    assert len(rendered(caplog, "rejections")) <= 2


def test_pending_rejections_are_reported_before_the_next_state_change(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="brace")
    breaker = brace.CircuitBreaker("flush", consecutive_failures=1, open_for=30, clock=clock)
    with pytest.raises(ConnectionError):
        breaker.call(boom)
    for _ in range(50):
        clock.advance(0.1)
        with pytest.raises(brace.CircuitOpenError):
            breaker.call(ok)
    clock.advance(30)
    breaker.call(ok)  # the trial call
    events = [getattr(r, "brace_event", "") for r in caplog.records if r.name == "brace"]
    assert events[:4] == ["state_change", "rejections", "rejections", "state_change"]
    counts = [r.brace_rejected for r in caplog.records if hasattr(r, "brace_rejected")]
    assert counts == [1, 49]


def test_rate_limiter_throttle_and_bulkhead_rejections_are_summarised(
    driver: Driver, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="brace")
    limiter = brace.RateLimiter("search", rate=1, per=60, clock=clock)
    driver.run(limiter, ok)
    for _ in range(3):
        with pytest.raises(brace.RateLimitedError):
            driver.run(limiter, ok)
    bulkhead = brace.Bulkhead("inventory", max_concurrent=1)
    bulkhead._permits.free.pop()
    with pytest.raises(brace.BulkheadFullError):
        driver.run(bulkhead, ok)
    assert rendered(caplog, "rejections") == [
        (
            "INFO rejections RateLimiter search | rate limiter 'search' rejected a call; further "
            "rejections are summarised every 10 s"
        ),
        (
            "INFO rejections Bulkhead inventory | bulkhead 'inventory' rejected a call; further "
            "rejections are summarised every 10 s"
        ),
    ]


def test_configure_logging_off_silences_brace_and_on_restores_it(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="brace")
    breaker = brace.CircuitBreaker("quiet", consecutive_failures=1, clock=clock)
    brace.configure_logging(enabled=False)
    try:
        with pytest.raises(ConnectionError):
            breaker.call(boom)
        for _ in range(100):
            with pytest.raises(brace.CircuitOpenError):
                breaker.call(ok)
        assert rendered(caplog) == []
    finally:
        brace.configure_logging(enabled=True)
    breaker.reset()
    assert (rendered(caplog)) == [
        "INFO state_change CircuitBreaker quiet | circuit breaker 'quiet' closed: reset()"
    ]
    with pytest.raises(brace.ConfigError, match="enabled='no'"):
        brace.configure_logging(enabled="no")  # type: ignore[arg-type]


def test_structlog_renders_the_fields_as_keys(clock: VirtualClock) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_log_level, structlog.stdlib.ExtraAdder()],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    logger = logging.getLogger("brace")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        breaker = brace.CircuitBreaker("structured", consecutive_failures=2, clock=clock)
        for _ in range(2):
            with pytest.raises(ConnectionError):
                breaker.call(boom)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    (record,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert record == {
        "event": "circuit breaker 'structured' opened: 2 consecutive failures",
        "level": "warning",
        "brace_event": "state_change",
        "brace_policy": "structured",
        "brace_policy_type": "CircuitBreaker",
        "brace_old": "CLOSED",
        "brace_new": "OPEN",
        "brace_reason": "2 consecutive failures",
    }


def test_a_failing_handler_or_clock_never_breaks_the_call(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("brace._telemetry._failures", itertools.count())  # first failure again

    class Broken(VirtualClock):
        def wall(self) -> float:
            raise RuntimeError("clock bug")

    caplog.set_level(logging.INFO, logger="brace")
    breaker = brace.CircuitBreaker("fragile", consecutive_failures=1, clock=Broken())
    with pytest.raises(ConnectionError):
        breaker.call(boom)
    assert breaker.state is brace.State.OPEN
    assert any("could not record" in r.getMessage() for r in caplog.records)
