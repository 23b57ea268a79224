"""brace.http without a server: what is transient, Retry-After, idempotency, host breakers, standard()."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import aiohttp
import httpx
import pytest
import requests
import urllib3.exceptions
from hypothesis import given
from hypothesis import strategies as st

import brace
import brace.http
from brace._http_request import CURRENT, RequestInfo
from brace.testing import VirtualClock
from tests.conftest import Driver


class Answer:
    """Any response-like object: a status and headers."""

    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.headers = headers or {}


class AioAnswer:
    """aiohttp's spelling: ``status``."""

    def __init__(self, status: int) -> None:
        self.status = status


def httpx_status_error(status: int) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "http://h/")
    response = httpx.Response(status, request=request)
    return httpx.HTTPStatusError("status", request=request, response=response)


# -- what is transient ----------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses(status: int) -> None:
    assert brace.http.is_transient(Answer(status))
    assert brace.http.is_transient(AioAnswer(status))
    assert brace.http.is_transient(httpx_status_error(status))


@pytest.mark.parametrize("status", [200, 201, 301, 304, 400, 401, 403, 404, 409, 422, 501, 505])
def test_other_answers_are_not_failures_of_the_dependency(status: int) -> None:
    assert not brace.http.is_transient(Answer(status))
    assert not brace.http.is_transient(httpx_status_error(status))


def test_requests_http_error_is_judged_by_its_status() -> None:
    response = requests.Response()
    response.status_code = 503
    assert brace.http.is_transient(requests.HTTPError(response=response))
    response.status_code = 404
    assert not brace.http.is_transient(requests.HTTPError(response=response))


TRANSIENT_ERRORS: list[BaseException] = [
    httpx.ConnectError("refused"),
    httpx.ConnectTimeout("slow"),
    httpx.ReadTimeout("slow"),
    httpx.WriteError("broken"),
    httpx.PoolTimeout("busy"),
    httpx.RemoteProtocolError("server disconnected"),
    requests.ConnectionError("refused"),
    requests.ReadTimeout("slow"),
    requests.exceptions.ChunkedEncodingError("cut"),
    urllib3.exceptions.ProtocolError("aborted"),
    urllib3.exceptions.ReadTimeoutError(None, "/", "slow"),  # type: ignore[arg-type]
    aiohttp.ServerDisconnectedError(),
    aiohttp.ServerTimeoutError("slow"),
    aiohttp.ClientPayloadError("cut"),
    aiohttp.ClientConnectionError("dropped"),
    ConnectionResetError(),
    ConnectionRefusedError(),
    TimeoutError(),
    brace.TimeoutExceededError("attempt", policy="t", timeout=1.0, source="timeout"),
    brace.http.TransientStatusError(Answer(503)),
]

NOT_TRANSIENT: list[BaseException] = [
    httpx.UnsupportedProtocol("ftp://"),
    httpx.LocalProtocolError("bad header"),
    httpx.TooManyRedirects("loop"),
    requests.exceptions.SSLError("certificate"),
    requests.exceptions.InvalidURL("nope"),
    requests.exceptions.TooManyRedirects("loop"),
    urllib3.exceptions.SSLError("certificate"),
    aiohttp.InvalidURL("nope"),
    brace.CircuitOpenError("open", policy="b", retry_after=1.0),
    brace.BulkheadFullError("full", policy="b"),
    ValueError("a bug"),
    KeyError("a bug"),
]


@pytest.mark.parametrize("exc", TRANSIENT_ERRORS, ids=lambda e: type(e).__name__)
def test_transport_failures_are_transient(exc: BaseException) -> None:
    assert brace.http.is_transient(exc)


@pytest.mark.parametrize("exc", NOT_TRANSIENT, ids=lambda e: type(e).__name__)
def test_local_errors_and_brace_rejections_are_not(exc: BaseException) -> None:
    assert not brace.http.is_transient(exc)


def test_brace_http_imports_no_http_client() -> None:
    code = "import brace, brace.http, sys; print(sorted({'httpx','requests','aiohttp','urllib3'} & set(sys.modules)))"
    out = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


# -- Retry-After ----------------------------------------------------------------------------


def test_retry_after_reads_delay_seconds_and_dates() -> None:
    clock = VirtualClock(wall_start=1_800_000_000.0)
    when = datetime.fromtimestamp(1_800_000_000 + 120, tz=UTC)
    assert brace.http.retry_after(Answer(503, {"Retry-After": "7"})) == 7.0
    assert brace.http.retry_after(
        Answer(503, {"Retry-After": format_datetime(when, usegmt=True)}), clock=clock
    ) == pytest.approx(120.0)
    past = datetime.fromtimestamp(1_800_000_000 - 60, tz=UTC)
    assert (
        brace.http.retry_after(
            Answer(429, {"Retry-After": format_datetime(past, usegmt=True)}), clock=clock
        )
        == 0.0
    )


@pytest.mark.parametrize("value", ["soon", "-1", "1.5", "", "Wed, 99 Foo 2026"])
def test_a_malformed_retry_after_is_no_hint(value: str) -> None:
    assert brace.http.retry_after(Answer(503, {"Retry-After": value})) is None


def test_retry_after_of_an_exception_reads_its_response() -> None:
    error = httpx_status_error(429)
    error.response.headers["Retry-After"] = "3"
    assert brace.http.retry_after(error) == 3.0
    assert brace.http.retry_after(ValueError()) is None
    assert brace.http.retry_after(Answer(503)) is None


@given(st.integers(min_value=0, max_value=10**9))
def test_delay_seconds_round_trip(seconds: int) -> None:
    assert brace.http.retry_after(Answer(503, {"Retry-After": str(seconds)})) == float(seconds)


# -- authority and idempotency --------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://Example.COM/path?q=1", "example.com"),
        ("http://example.com:80/", "example.com"),
        ("https://example.com:443", "example.com"),
        ("https://example.com:8443/x", "example.com:8443"),
        ("http://user:pw@example.com:81", "example.com:81"),
        ("http://[::1]:8080/", "[::1]:8080"),
        ("example.com:81", "example.com:81"),
    ],
)
def test_authority(url: str, expected: str) -> None:
    assert brace.http.authority(url) == expected


def in_request(info: RequestInfo, exc: BaseException, **options: Any) -> bool:
    token = CURRENT.set(info)
    try:
        return brace.http.retry_on(**options)(exc)
    finally:
        CURRENT.reset(token)


def test_only_idempotent_methods_are_retried_by_default() -> None:
    failure = brace.http.TransientStatusError(Answer(503))
    for method in ("GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"):
        assert in_request(RequestInfo(method, "h"), failure), method
    for method in ("POST", "PATCH"):
        assert not in_request(RequestInfo(method, "h"), failure), method
        assert in_request(RequestInfo(method, "h", headers={"Idempotency-Key": "k"}), failure), (
            method
        )
        assert in_request(RequestInfo(method, "h"), failure, methods={"GET", method}), method


def test_a_request_that_never_left_is_retried_whatever_its_method() -> None:
    post = RequestInfo("POST", "h")
    assert in_request(post, httpx.ConnectError("refused"))
    assert in_request(post, requests.ConnectTimeout("slow"))
    assert not in_request(post, httpx.ReadTimeout("sent, then no answer"))


def test_a_body_that_cannot_be_sent_again_is_never_retried() -> None:
    put = RequestInfo("PUT", "h", replayable=False)
    assert not in_request(put, brace.http.TransientStatusError(Answer(503)))


def test_retry_on_never_retries_what_is_not_transient() -> None:
    assert not in_request(RequestInfo("GET", "h"), httpx_status_error(404))
    assert brace.http.retry_on()(httpx.ConnectError("outside any request"))


def test_retry_methods_must_be_a_collection_of_names() -> None:
    with pytest.raises(brace.ConfigError, match="retry_methods='GET'"):
        brace.http.retry_on("GET")
    with pytest.raises(brace.ConfigError, match="retry_methods"):
        brace.http.standard("x", retry_methods=[1])  # type: ignore[list-item]


# -- host breakers --------------------------------------------------------------------------


def test_host_breakers_are_made_on_first_use_named_by_host_and_bounded() -> None:
    hosts = brace.http.HostBreakers("api", max_hosts=2)
    a = hosts.breaker("http://a.example/x")
    assert a.name == "api:a.example"
    assert hosts.breaker("a.example") is a
    hosts.breaker("b.example:8080")
    hosts.breaker("a.example")  # used: now the most recent
    hosts.breaker("c.example")  # evicts b, the least recently used
    assert [b.name for b in hosts] == ["api:a.example", "api:c.example"]
    assert hosts.get("b.example:8080") is None
    assert len(hosts) == 2


def test_host_breakers_use_the_request_in_flight(driver: Driver) -> None:
    hosts = brace.http.HostBreakers(
        "api", lambda name: brace.CircuitBreaker(name, consecutive_failures=1)
    )

    def fail() -> None:
        raise ConnectionError

    for host in ("a", "b"):
        token = CURRENT.set(RequestInfo("GET", host))
        try:
            with pytest.raises(ConnectionError):
                driver.call(hosts, fail)
            with pytest.raises(brace.CircuitOpenError, match=f"api:{host}"):
                driver.call(hosts, fail)
        finally:
            CURRENT.reset(token)
    assert driver.call(hosts, lambda: "no request: one breaker named api") == (
        "no request: one breaker named api"
    )
    assert hosts.get("") is not None


def test_host_breakers_refuse_bad_configuration() -> None:
    with pytest.raises(brace.ConfigError, match="max_hosts=0"):
        brace.http.HostBreakers("api", max_hosts=0)
    with pytest.raises(brace.ConfigError, match="breaker=3"):
        brace.http.HostBreakers("api", 3)  # type: ignore[arg-type]
    hosts = brace.http.HostBreakers("api", lambda name: "not a breaker")  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="not a CircuitBreaker"):
        hosts.breaker("h")


# -- TimeLimit and standard() ---------------------------------------------------------------


def test_time_limit_is_a_deadline_for_what_runs_inside(driver: Driver) -> None:
    clock = VirtualClock()
    limit = brace.http.TimeLimit(2.0, clock=clock)
    assert driver.call(limit, brace.remaining) == 2.0
    with brace.deadline(0.5, clock=clock):
        assert driver.call(limit, brace.remaining) == 0.5  # the tighter bound stays
    assert repr(limit) == "brace.http.TimeLimit('timelimit', seconds=2.0)"
    with pytest.raises(brace.ConfigError, match="seconds=0"):
        brace.http.TimeLimit(0)


def test_standard_is_the_standard_handler_order() -> None:
    policy = brace.http.standard("recs")
    kinds = [type(p).__name__ for p in policy]
    assert kinds == ["Bulkhead", "TimeLimit", "Retry", "HostBreakers", "TimeLimit"]
    described = policy.describe()
    assert described[0]["max_concurrent"] == 1000
    assert described[1]["seconds"] == 30.0
    assert described[2]["attempts"] == 3
    assert described[4]["seconds"] == 10.0
    assert {p.name for p in policy} == {"recs", "recs.total", "recs.attempt"}


def test_standard_stages_can_be_left_out_or_changed() -> None:
    policy = brace.http.standard(
        "recs", max_concurrent=None, total_timeout=None, attempts=1, attempt_timeout=2.5
    )
    assert [type(p).__name__ for p in policy] == ["HostBreakers", "TimeLimit"]
    budget = brace.RetryBudget()
    retry = next(p for p in brace.http.standard("x", budget=budget) if isinstance(p, brace.Retry))
    assert retry.budget is budget
    retry = next(p for p in brace.http.standard("x", budget=False) if isinstance(p, brace.Retry))
    assert retry.budget is None


def test_standard_default_breaker_opens_on_transient_failures_only(driver: Driver) -> None:
    clock = VirtualClock()
    hosts = next(
        p for p in brace.http.standard("x", clock=clock) if isinstance(p, brace.http.HostBreakers)
    )
    breaker = hosts.breaker("h")
    assert breaker.describe()["open_for"] == 5.0

    def local_error() -> None:
        raise httpx.UnsupportedProtocol("ftp")

    def refused() -> None:
        raise httpx.ConnectError("refused")

    token = CURRENT.set(RequestInfo("GET", "h"))
    try:
        for _ in range(30):
            with pytest.raises(httpx.UnsupportedProtocol):
                driver.call(hosts, local_error)
        assert breaker.metrics().calls == 0  # ignored: says nothing about the host
        for _ in range(20):
            with pytest.raises(httpx.ConnectError):
                driver.call(hosts, refused)
        assert breaker.state is brace.State.OPEN
    finally:
        CURRENT.reset(token)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("max_concurrent", 0),
        ("total_timeout", -1),
        ("attempts", 0),
        ("budget", "yes"),
        ("max_hosts", 0),
        ("attempt_timeout", 0),
        ("clock", object()),
    ],
)
def test_standard_refuses_bad_values_naming_them(option: str, value: object) -> None:
    options: dict[str, Any] = {option: value}
    with pytest.raises(brace.ConfigError, match=option):
        brace.http.standard("x", **options)


def test_current_request_is_none_outside_an_integration() -> None:
    assert brace.http.current_request() is None
    info = RequestInfo("GET", "h", attempts=3)
    assert info.resend_count == 2


def test_transient_status_error_carries_the_response() -> None:
    answer = Answer(503)
    error = brace.http.TransientStatusError(answer)
    assert (error.response, error.status_code) == (answer, 503)
    assert isinstance(error, brace.BraceError)


def test_host_breakers_stay_bounded_under_threads() -> None:
    import threading

    hosts = brace.http.HostBreakers("api", max_hosts=5)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(300):
                token = CURRENT.set(RequestInfo("GET", f"h{(worker * 7 + i) % 40}"))
                try:
                    hosts.call(lambda: None)
                finally:
                    CURRENT.reset(token)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(hosts) <= 5
    assert all(b.name.startswith("api:h") for b in hosts)
