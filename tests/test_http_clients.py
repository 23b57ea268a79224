"""httpx (sync and async) and requests through brace, against a real server under every fault.

Each test runs once per client kind. The server counts the attempts that reached
it, its peak concurrency and its open connections; the tests assert on those,
not only on what the client saw. Backoff waits are skipped (`no_wait`); the
faults' own delays (a hang, slow headers) are real and short.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import httpx
import pytest
import requests
import requests.adapters

import brace
import brace.http
from brace.integrations.aiohttp import ResilientMiddleware
from brace.integrations.httpx import AsyncResilientTransport, ResilientTransport
from brace.integrations.requests import ResilientAdapter
from brace.testing import no_wait
from tests.fault_server import FaultServer, closed_port_url

KINDS = ["httpx", "httpx-async", "requests", "aiohttp"]


class Recording(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """An inner transport that notes each attempt's timeouts and resend count, then sends it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.timeouts: list[dict[str, float | None]] = []
        self.resends: list[int] = []

    def _note(self, request: httpx.Request) -> None:
        self.timeouts.append(dict(request.extensions.get("timeout", {})))
        info = brace.http.current_request()
        assert info is not None
        self.resends.append(info.resend_count)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self._note(request)
        return self.inner.handle_request(request)  # type: ignore[no-any-return]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._note(request)
        return await self.inner.handle_async_request(request)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.inner.close()

    async def aclose(self) -> None:
        await self.inner.aclose()


class AioAnswer:
    """An aiohttp response, its body read, with the sync methods the tests use."""

    def __init__(self, response: aiohttp.ClientResponse, body: bytes) -> None:
        self.response = response
        self.status_code = response.status
        self.headers = response.headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    def raise_for_status(self) -> None:
        self.response.raise_for_status()


class Client:
    """One kind of client (httpx sync or async, requests, aiohttp) behind one blocking interface."""

    def __init__(
        self,
        kind: str,
        policy: brace.Policy,
        *,
        timeout: float = 5.0,
        sock_read: float | None = None,
    ) -> None:
        self.kind = kind
        self.policy = policy
        self.recording: Recording | None = None
        self._runner: asyncio.Runner | None = None
        self.closed = False
        if kind == "httpx":
            self.recording = Recording(httpx.HTTPTransport())
            self.transport: Any = ResilientTransport(policy, transport=self.recording)
            self.httpx: Any = httpx.Client(transport=self.transport, timeout=timeout)
        elif kind == "httpx-async":
            self.recording = Recording(httpx.AsyncHTTPTransport())
            self.transport = AsyncResilientTransport(policy, transport=self.recording)
            self.httpx = httpx.AsyncClient(transport=self.transport, timeout=timeout)
            self._runner = asyncio.Runner()
        elif kind == "aiohttp":
            self._runner = asyncio.Runner()
            self.middleware = ResilientMiddleware(policy)

            async def session() -> aiohttp.ClientSession:
                limits = aiohttp.ClientTimeout(total=timeout, sock_read=sock_read)
                return aiohttp.ClientSession(middlewares=(self.middleware,), timeout=limits)

            self.aiohttp = self.run(session)
        else:
            self.adapter = ResilientAdapter(policy)
            self.session = requests.Session()
            self.session.mount("http://", self.adapter)
            self.timeout = timeout
        self.body_key = "content" if kind.startswith("httpx") else "data"
        self.http_error: type[Exception] = {
            "requests": requests.HTTPError,
            "aiohttp": aiohttp.ClientResponseError,
        }.get(kind, httpx.HTTPError)

    def run(self, fn: Callable[[], Any]) -> Any:
        """``fn()``, awaited on this client's loop when it is a coroutine, in this context."""
        if self._runner is None:
            return fn()
        return self._runner.run(fn(), context=contextvars.copy_context())

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        if self.kind == "requests":
            kwargs.setdefault("timeout", self.timeout)
            return self.session.request(method, url, **kwargs)
        if self.kind == "aiohttp":
            return self.run(lambda: self._aiohttp(method, url, **kwargs))
        return self.run(lambda: self.httpx.request(method, url, **kwargs))

    async def _aiohttp(self, method: str, url: str, **kwargs: Any) -> AioAnswer:
        async with self.aiohttp.request(method, url, **kwargs) as response:
            return AioAnswer(response, await response.read())

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.request("GET", url, **kwargs)

    def get_many(self, url: str, n: int) -> list[Any]:
        """``n`` concurrent GETs: tasks for httpx-async, threads otherwise; errors returned."""
        if self._runner is not None:

            async def many() -> list[Any]:
                one = (
                    (lambda: self._aiohttp("GET", url))
                    if self.kind == "aiohttp"
                    else (lambda: self.httpx.get(url))
                )
                return await asyncio.gather(*(one() for _ in range(n)), return_exceptions=True)

            return self.run(many)  # type: ignore[no-any-return]
        results: list[Any] = [None] * n

        def one(i: int) -> None:
            try:
                results[i] = self.get(url)
            except Exception as exc:
                results[i] = exc

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    def in_use(self) -> int:
        """Connections checked out of the client's pool now (0: nothing leaked)."""
        if self.kind == "requests":
            pools = self.adapter.poolmanager.pools
            queues = [pools[key].pool for key in pools.keys()]  # noqa: SIM118 - not a dict
            return sum(q.maxsize - q.qsize() for q in queues if q is not None)
        if self.kind == "aiohttp":
            connector = self.aiohttp.connector
            assert connector is not None
            return len(connector._acquired)
        assert self.recording is not None
        return len(self.recording.inner._pool._requests)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.kind == "requests":
            self.session.close()
        elif self.kind == "aiohttp":
            assert self._runner is not None
            self.run(self.aiohttp.close)
            self._runner.close()
        elif self._runner is not None:
            self.run(self.httpx.aclose)
            self._runner.close()
        else:
            self.httpx.close()


def transport_error(kind: str) -> tuple[type[Exception], ...]:
    errors = {"requests": requests.RequestException, "aiohttp": aiohttp.ClientError}
    return (errors.get(kind, httpx.TransportError),)


def timeout_error(kind: str) -> tuple[type[Exception], ...]:
    errors = {"requests": requests.Timeout, "aiohttp": aiohttp.ServerTimeoutError}
    return (errors.get(kind, httpx.TimeoutException),)


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as s:
        yield s


@pytest.fixture
def make(kind: str) -> Iterator[Callable[..., Client]]:
    """Build clients of this test's kind (the standard pipeline unless told); close them after."""
    made: list[Client] = []

    def build(policy: brace.Policy | None = None, **overrides: Any) -> Client:
        # Long enough for a loaded CI machine; tests of the attempt timeout set their own.
        overrides.setdefault("attempt_timeout", 2.0)
        client = Client(kind, policy or brace.http.standard("svc", **overrides))
        made.append(client)
        return client

    with no_wait():
        yield build
    for client in made:
        client.close()


def host_breakers(policy: brace.Policy) -> brace.http.HostBreakers:
    assert isinstance(policy, brace.Pipeline)
    return next(p for p in policy if isinstance(p, brace.http.HostBreakers))


def delays(policy: brace.Policy) -> list[float]:
    """A list that fills with the policy's retry waits (RetryScheduled delays)."""
    seen: list[float] = []
    policy.listen(lambda e: seen.append(e.delay) if isinstance(e, brace.RetryScheduled) else None)
    return seen


# -- answers --------------------------------------------------------------------------------


def test_a_healthy_server_is_asked_once(make: Callable[..., Client], server: FaultServer) -> None:
    response = make().get(f"{server.url}/ok")
    assert (response.status_code, server.attempts) == (200, 1)
    assert response.json() == {"status": 200, "path": "/ok"}


def test_a_404_is_an_answer_not_retried_nor_counted_against_the_host(
    make: Callable[..., Client], server: FaultServer
) -> None:
    client = make()
    server.play("404", "404", "404")
    for _ in range(3):
        assert client.get(server.url).status_code == 404
    assert server.attempts == 3
    breakers = host_breakers(client.policy)
    breaker = breakers.get(server.url)
    assert breaker is not None
    assert (breaker.metrics().failures, breaker.metrics().calls) == (0, 3)


def test_a_500_is_retried_until_it_succeeds(
    make: Callable[..., Client], server: FaultServer
) -> None:
    server.play("500", "502")
    response = make().get(server.url)
    assert (response.status_code, server.attempts) == (200, 3)


def test_when_retries_give_up_the_last_transient_response_is_returned_readable(
    make: Callable[..., Client], server: FaultServer
) -> None:
    server.play("500", "503", "504")
    client = make()
    response = client.get(f"{server.url}/x")
    assert (response.status_code, server.attempts) == (504, 3)
    assert response.json() == {"status": 504, "path": "/x"}  # the body survived the retries
    with pytest.raises(client.http_error):
        response.raise_for_status()


@pytest.mark.parametrize("fault", ["503:1", "429:1", "503:date:2"])
def test_retry_after_on_429_and_503_sets_the_wait(
    make: Callable[..., Client], server: FaultServer, fault: str
) -> None:
    client = make()
    waits = delays(client.policy)
    server.play(fault)
    assert client.get(server.url).status_code == 200
    assert server.attempts == 2
    assert len(waits) == 1
    assert waits[0] >= 0.9  # an HTTP-date has whole seconds: 2 s from now is at least ~1 s


def test_retry_after_on_a_500_is_not_a_server_request_to_wait(
    make: Callable[..., Client], server: FaultServer
) -> None:
    client = make()
    waits = delays(client.policy)
    server.play("500:30")
    assert client.get(server.url).status_code == 200
    assert waits[0] < 0.2 * 1.01  # the backoff's own first wait, not 30 s


def test_a_retry_after_past_the_deadline_returns_the_response_at_once(
    make: Callable[..., Client], server: FaultServer
) -> None:
    client = make()
    server.play("503:10")
    clock = brace.SystemClock()
    start = clock.monotonic()
    with brace.deadline(2.0):
        response = client.get(server.url)
    assert (response.status_code, server.attempts) == (503, 1)
    assert response.headers["Retry-After"] == "10"
    assert clock.monotonic() - start < 0.5


# -- no answer ------------------------------------------------------------------------------


def test_slow_headers_are_cut_at_the_attempt_timeout_and_retried(
    make: Callable[..., Client], server: FaultServer, kind: str
) -> None:
    client = make(attempt_timeout=0.15)
    server.play("slow-headers:1", "slow-headers:1", "slow-headers:0.02")
    assert client.get(server.url).status_code == 200
    assert server.attempts == 3


def test_a_hanging_server_costs_each_attempt_its_timeout_and_then_raises(
    make: Callable[..., Client], server: FaultServer, kind: str
) -> None:
    client = make(attempt_timeout=0.15)
    server.play(then="hang")
    clock = brace.SystemClock()
    start = clock.monotonic()
    with pytest.raises(timeout_error(kind)) as caught:
        client.get(server.url)
    assert 0.4 < clock.monotonic() - start < 1.0
    assert any("gave up after 3 attempts" in note for note in caught.value.__notes__)
    # The server counts the requests it read: on a loaded machine an attempt can be cut
    # before its request arrives, so it may see fewer than the three the client made.
    assert 1 <= server.attempts <= 3


def test_the_deadline_bounds_the_whole_request_retries_included(
    make: Callable[..., Client], server: FaultServer, kind: str
) -> None:
    client = make(attempt_timeout=10)
    server.play(then="hang")
    clock = brace.SystemClock()
    start = clock.monotonic()
    with pytest.raises((*timeout_error(kind), brace.TimeoutExceededError)), brace.deadline(0.3):
        client.get(server.url)
    assert clock.monotonic() - start < 0.6
    assert 1 <= server.attempts <= 3


def test_every_attempt_gets_socket_timeouts_within_the_time_left(server: FaultServer) -> None:
    client = Client("httpx", brace.http.standard("svc", attempt_timeout=0.5), timeout=5.0)
    try:
        server.play("500", "500")
        with no_wait(), brace.deadline(2.0):
            client.get(server.url)  # each attempt: the attempt's 0.5 s, within the deadline
        with no_wait(), brace.deadline(0.3):
            client.get(server.url)  # the deadline is tighter than the attempt timeout
        assert client.recording is not None
        assert client.recording.resends == [0, 1, 2, 0]  # the seam for http.request.resend_count
        limits = [0.5, 0.5, 0.5, 0.3]
        for limit, timeouts in zip(limits, client.recording.timeouts, strict=True):
            assert set(timeouts) == {"connect", "read", "write", "pool"}
            assert all(v is not None and limit - 0.1 < v <= limit for v in timeouts.values())
    finally:
        client.close()


def test_a_slow_body_is_not_retried_and_is_bounded_by_the_attempts_socket_timeout(
    make: Callable[..., Client], server: FaultServer, kind: str
) -> None:
    # A response is protected until its headers arrive; its body is read afterwards. aiohttp
    # fixes its socket timeouts per session, so there the session's own sock_read bounds it.
    client = make(attempt_timeout=0.15)
    if kind == "aiohttp":
        client = Client(kind, client.policy, sock_read=0.15)
        client.closed = True  # closed below, not by the fixture
    server.play("slow-body:1")
    clock = brace.SystemClock()
    start = clock.monotonic()
    with pytest.raises(transport_error(kind)):
        client.get(server.url)
    assert server.attempts == 1
    assert clock.monotonic() - start < 0.6
    if kind == "aiohttp":
        client.closed = False
        client.close()


def test_a_connection_reset_is_retried(
    make: Callable[..., Client], server: FaultServer, kind: str
) -> None:
    server.play("reset")
    assert make().get(server.url).status_code == 200
    assert server.attempts == 2
    server.reset_counts()
    server.play("reset", "reset", "reset")
    with pytest.raises(transport_error(kind)):
        make().get(server.url)
    assert server.attempts == 3


def test_a_refused_connection_is_retried_whatever_the_method(
    make: Callable[..., Client], kind: str
) -> None:
    client = make()
    waits = delays(client.policy)
    for method in ("GET", "POST"):  # never sent: a POST is safe to try again
        with pytest.raises(transport_error(kind)) as caught:
            client.request(method, closed_port_url())
        assert any("gave up after 3 attempts" in n for n in caught.value.__notes__)
    assert len(waits) == 4


# -- idempotency ----------------------------------------------------------------------------


def test_post_is_not_retried_without_an_idempotency_key(
    make: Callable[..., Client], server: FaultServer
) -> None:
    server.play("503")
    client = make()
    body = {client.body_key: b"x"}
    response = client.request("POST", server.url, **body)
    assert (response.status_code, server.attempts) == (503, 1)
    server.reset_counts()
    server.play("503", then="200")
    keyed = client.request("POST", server.url, headers={"Idempotency-Key": "k1"}, **body)
    assert (keyed.status_code, server.attempts) == (200, 2)


def test_post_is_retried_when_the_caller_opts_in(
    make: Callable[..., Client], server: FaultServer
) -> None:
    client = make(retry_methods={"GET", "POST"})
    server.play("503")
    assert client.request("POST", server.url).status_code == 200
    assert server.attempts == 2


def test_a_streamed_upload_is_sent_once(make: Callable[..., Client], server: FaultServer) -> None:
    client = make()

    def body() -> Iterator[bytes]:
        yield b"part"

    async def abody() -> AsyncIterator[bytes]:
        yield b"part"

    server.play("503")
    stream = body() if client.kind in ("httpx", "requests") else abody()
    response = client.request("PUT", server.url, **{client.body_key: stream})
    assert (response.status_code, server.attempts) == (503, 1)


# -- protection -----------------------------------------------------------------------------


def test_each_host_has_its_own_breaker_and_an_open_one_spares_the_server(
    make: Callable[..., Client],
) -> None:
    def breaker(name: str) -> brace.CircuitBreaker:
        return brace.CircuitBreaker(name, consecutive_failures=3, open_for=60)

    client = make(breaker=breaker, attempts=1)
    with FaultServer(then="500") as sick, FaultServer() as well:
        for _ in range(3):
            assert client.get(sick.url).status_code == 500
        with pytest.raises(brace.CircuitOpenError) as caught:
            client.get(sick.url)
        assert sick.attempts == 3  # the open breaker kept the fourth request off the server
        assert f"svc:{brace.http.authority(sick.url)}" == caught.value.policy
        assert client.get(well.url).status_code == 200  # another host is unaffected


def test_the_bulkhead_bounds_what_reaches_the_server(
    make: Callable[..., Client], server: FaultServer
) -> None:
    client = make(max_concurrent=2, attempt_timeout=2)
    server.play(then="slow-headers:0.3")
    results = client.get_many(server.url, 5)
    full = [r for r in results if isinstance(r, brace.BulkheadFullError)]
    assert server.peak == 2
    assert server.attempts == 2
    assert len(full) == 3


def test_no_connection_leaks_after_every_fault(
    make: Callable[..., Client], server: FaultServer, kind: str
) -> None:
    client = make(attempt_timeout=0.15)
    faults = ["200", "404", "500", "503:1", "429", "reset", "slow-headers:1", "hang"]
    failures: list[Exception] = []
    for fault in faults:
        server.play(fault, fault, fault, then="200")
        try:
            client.get(server.url)
        except Exception as exc:
            failures.append(exc)
    assert all(brace.http.is_transient(exc) for exc in failures)
    assert client.in_use() == 0
    server.release()
    client.close()
    gc.collect()  # requests' responses keep their socket open until collected (plain requests too)
    assert server.wait_closed() == 0


def test_a_request_without_a_timeout_gets_the_default_one(server: FaultServer) -> None:
    # No deadline anywhere in this policy: the adapter's default timeout still applies.
    adapter = ResilientAdapter(
        brace.http.standard("svc", attempts=1, attempt_timeout=None, total_timeout=None),
        default_timeout=0.15,
    )
    session = requests.Session()
    session.mount("http://", adapter)
    server.play("hang")
    clock = brace.SystemClock()
    start = clock.monotonic()
    with pytest.raises(requests.ReadTimeout):
        session.get(server.url)
    assert clock.monotonic() - start < 0.5
    session.close()


def test_a_client_without_a_deadline_keeps_its_own_timeouts(server: FaultServer) -> None:
    client = Client("httpx", brace.http.HostBreakers("svc"), timeout=3.0)
    try:
        client.get(server.url)
        assert client.recording is not None
        assert (client.recording.timeouts) == [
            {"connect": 3.0, "read": 3.0, "write": 3.0, "pool": 3.0}
        ]
    finally:
        client.close()
