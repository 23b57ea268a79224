"""HTTP clients: brace's overhead per request, and peers on one fault script.

Run: ``python benchmarks/http_clients.py`` (``--quick`` for a smoke run; ``--only overhead`` or
``--only faults``). Needs ``pip install -e .[bench]``. Everything talks to servers on
127.0.0.1 started here.

1. Overhead: GET against a minimal keep-alive server, per request, for a plain client
   and the same client with brace's standard pipeline (``ResilientTransport`` /
   ``AsyncResilientTransport`` / ``ResilientAdapter``), interleaved in rounds in this
   one process; medians, and the ratio to the plain client (target: at most 1.05x).
2. Faults: one caller sends the same script of requests through each strategy while
   the server is healthy, then answers 503, hangs, resets connections, answers 503
   with ``Retry-After``, and is healthy again (phases are timed, so a circuit breaker
   meets them as it would in production). Per strategy: requests sent, successes,
   attempts that reached the server, caller latency p50/p99.
   Every strategy gets 3 attempts, 0.25 s per attempt and a 0.05 s exponential
   backoff base with full jitter, so the table compares policies, not constants.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import requests
import tenacity
from requests.adapters import HTTPAdapter
from tests.fault_server import FaultServer
from urllib3.util import Retry as Urllib3Retry

import brace
import brace.http
from benchmarks import _harness
from brace.integrations.httpx import AsyncResilientTransport, ResilientTransport
from brace.integrations.requests import ResilientAdapter

# -- 1. overhead ----------------------------------------------------------------------------

_ANSWER = (
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'
)


class CannedServer:
    """The least a keep-alive HTTP/1.1 server can do: read a request, send a fixed answer."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _serve(conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                buffer += chunk
                while b"\r\n\r\n" in buffer:
                    _, buffer = buffer.split(b"\r\n\r\n", 1)
                    conn.sendall(_ANSWER)

    def close(self) -> None:
        self.sock.close()


def overhead_cases(url: str) -> tuple[list[_harness.Case], list[Callable[[], object]]]:
    plain = httpx.Client()
    resilient = httpx.Client(transport=ResilientTransport(brace.http.standard("bench")))
    aplain = httpx.AsyncClient()
    aresilient = httpx.AsyncClient(transport=AsyncResilientTransport(brace.http.standard("abench")))
    session = requests.Session()
    rsession = requests.Session()
    rsession.mount("http://", ResilientAdapter(brace.http.standard("rbench")))

    def get(client: httpx.Client) -> Callable[[], object]:
        return lambda: client.get(url).status_code

    def aget(client: httpx.AsyncClient) -> Callable[[], Any]:
        async def op() -> int:
            return (await client.get(url)).status_code

        return op

    def rget(s: requests.Session) -> Callable[[], object]:
        return lambda: s.get(url, timeout=10).status_code

    cases = [
        _harness.Case("httpx", "httpx.Client", get(plain)),
        _harness.Case("httpx", "ResilientTransport(standard)", get(resilient), ref="httpx.Client"),
        _harness.Case("httpx", "httpx.AsyncClient", aget(aplain), mode="async"),
        _harness.Case(
            "httpx",
            "AsyncResilientTransport(standard)",
            aget(aresilient),
            mode="async",
            ref="httpx.AsyncClient",
        ),
        _harness.Case("requests", "requests.Session", rget(session)),
        _harness.Case(
            "requests", "ResilientAdapter(standard)", rget(rsession), ref="requests.Session"
        ),
    ]
    closers: list[Callable[[], object]] = [plain.close, resilient.close, session.close]
    closers += [rsession.close, lambda: asyncio.run(aplain.aclose())]
    closers += [lambda: asyncio.run(aresilient.aclose())]
    return cases, closers


def _pin(cpu: int) -> None:
    """Keep this process on one CPU (client on 0, server on 1) where there are two: less noise."""
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[cpu]})


def serve() -> None:
    """Run a CannedServer in this process until stdin closes (see `overhead`)."""
    server = CannedServer()
    _pin(1)
    print(server.url, flush=True)
    sys.stdin.read()


def overhead(rounds: int, number: int) -> None:
    # The server runs in its own process, so it does not compete with the client for the GIL.
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert server.stdout is not None
    url = server.stdout.readline().decode().strip()
    _pin(0)
    cases, closers = overhead_cases(url)
    try:
        _harness.run(cases, rounds=rounds, number=number)
    finally:
        for close in closers:
            try:
                close()
            except Exception:
                pass
        server.communicate(timeout=5)
    print(
        f"\nPer-request overhead: {rounds} rounds x {number} GETs, interleaved; medians "
        "(the ratio: median over rounds of the round's ratio)"
    )
    by_label = {c.label: c for c in cases}
    print(f"{'mode':5} {'client':36} {'us/request':>10}  ratio")
    for case in cases:
        us = _harness.median(case) / 1000
        ratio = ""
        if case.ref is not None:
            # Rounds alternate the cases, so each round's ratio compares like with like.
            ref = by_label[case.ref]
            paired = statistics.median(
                a / b for a, b in zip(case.samples, ref.samples, strict=True)
            )
            ratio = f"{paired:.3f}x {case.ref}"
        print(f"{case.mode:5} {case.label:36} {us:10.1f}  {ratio}")


# -- 2. the fault script --------------------------------------------------------------------

ATTEMPTS = 3
TIMEOUT = 0.25
BASE = 0.05
PACE = 0.05  # seconds between the starts of two requests, when they take less


def script(scale: float) -> list[tuple[str, float, int]]:
    """Phases ``(fault, seconds, attempts it lasts per request)``; otherwise the server answers.

    Health; an outage (503 on every attempt); a hang; one-off connection resets that a
    retry fixes; an overload answering 503 with ``Retry-After: 1`` once; health again, long
    enough for an open breaker (5 s) to close.
    """
    return [
        ("200", 2.0 * scale, 0),
        ("503", 3.0 * scale, ATTEMPTS),
        ("hang", 2.0 * scale, ATTEMPTS),
        ("reset", 1.0 * scale, 1),
        ("503:1", 1.0 * scale, 1),
        ("200", 6.0, 0),
    ]


def transient(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return brace.http.is_transient(exc.response)
    return isinstance(exc, httpx.TransportError)


def strategies() -> dict[str, tuple[Callable[[str], object], Callable[[], object]]]:
    """name -> (one request: raises on failure, close)."""
    plain = httpx.Client(timeout=TIMEOUT)

    def plain_get(url: str) -> object:
        return plain.get(url).raise_for_status()

    urllib3_session = requests.Session()
    retry = Urllib3Retry(
        total=ATTEMPTS - 1,
        backoff_factor=BASE,
        backoff_jitter=BASE,
        status_forcelist=[408, 429, 500, 502, 503, 504],
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    urllib3_session.mount("http://", HTTPAdapter(max_retries=retry))

    def urllib3_get(url: str) -> object:
        return urllib3_session.get(url, timeout=TIMEOUT).raise_for_status()

    tenacity_client = httpx.Client(timeout=TIMEOUT)

    @tenacity.retry(
        stop=tenacity.stop_after_attempt(ATTEMPTS),
        wait=tenacity.wait_random_exponential(multiplier=BASE, max=10),
        retry=tenacity.retry_if_exception(transient),
        reraise=True,
    )
    def tenacity_get(url: str) -> object:
        return tenacity_client.get(url).raise_for_status()

    policy = brace.http.standard(
        "bench",
        attempts=ATTEMPTS,
        attempt_timeout=TIMEOUT,
        backoff=brace.Backoff.exponential(initial=BASE, max_delay=30.0, jitter="full"),
    )
    brace_client = httpx.Client(transport=ResilientTransport(policy))

    def brace_get(url: str) -> object:
        return brace_client.get(url).raise_for_status()

    return {
        "httpx, no retries": (plain_get, plain.close),
        "requests + urllib3 Retry": (urllib3_get, urllib3_session.close),
        "tenacity around httpx": (tenacity_get, tenacity_client.close),
        "brace.http.standard": (brace_get, brace_client.close),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def faults(scale: float) -> None:
    phases = script(scale)
    print(
        f"\nFault script, one caller sending a request every {PACE * 1000:.0f} ms: "
        + ", ".join(
            f"{fault} for {seconds:g} s" + (f" (x{k} attempts)" if k else "")
            for fault, seconds, k in phases
        )
    )
    print(f"{'strategy':26} {'requests':>8} {'ok':>5} {'attempts':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for name, (get, close) in strategies().items():
        with FaultServer() as server:
            latencies: list[float] = []
            ok = 0
            clock = brace.SystemClock()
            for fault, seconds, lasts in phases:
                end = clock.monotonic() + seconds
                while (began := clock.monotonic()) < end:
                    server.play(*[fault] * lasts)
                    try:
                        get(server.url)
                        ok += 1
                    except Exception:
                        pass
                    latencies.append(clock.monotonic() - began)
                    server.script.clear()
                    clock.sleep(max(0.0, began + PACE - clock.monotonic()))
            close()
            print(
                f"{name:26} {len(latencies):8} {ok:5} {server.attempts:9} "
                f"{percentile(latencies, 0.5) * 1000:8.1f} {percentile(latencies, 0.99) * 1000:8.1f}"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run")
    parser.add_argument("--only", choices=["overhead", "faults"])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve()
        return
    print(f"brace HTTP benchmark: Python {platform.python_version()}, httpx {httpx.__version__}")
    if args.only in (None, "overhead"):
        overhead(rounds=3 if args.quick else 100, number=50)
    if args.only in (None, "faults"):
        faults(scale=0.3 if args.quick else 1.0)


if __name__ == "__main__":
    main()
