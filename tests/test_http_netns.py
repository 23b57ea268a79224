"""The HTTP integrations over a real impaired link: a server in its own network namespace.

The server runs in a namespace made for this test, behind a veth pair with a
kernel-shaped link: `tc netem` delay and packet loss where the kernel has it,
else a `tc tbf` rate limit (a slow link). It needs root and `ip netns`; it is
skipped with the reason elsewhere, and required under BRACE_REQUIRE_ALL=1 on a
machine where `ip netns` works (as CI's does).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import brace
import brace.http
from brace.integrations.httpx import ResilientTransport
from brace.testing import no_wait
from tests.requires import unavailable

ROOT = Path(__file__).resolve().parent.parent


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)  # noqa: S603, S607


def _netns_problem() -> str | None:
    """Why a namespace cannot be made here, or ``None`` when it can."""
    if sys.platform != "linux" or os.geteuid() != 0:
        return "needs Linux and root (network namespaces)"
    if shutil.which("ip") is None or shutil.which("tc") is None:
        return "needs the ip and tc commands (iproute2)"
    probe = f"braceprobe{os.getpid()}"
    made = _ip("netns", "add", probe)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    _ip("netns", "del", probe)
    return None


@dataclass
class Link:
    url: str
    shaping: str  # what the link does: "netem ..." or "tbf ..."
    server: subprocess.Popen[str]

    def play(self, *faults: str) -> None:
        """Script the next answers; returns once the server has them (the count answers)."""
        assert self.server.stdin is not None
        self.server.stdin.write(f"play {' '.join(faults)}\n")
        self.server.stdin.flush()
        self.attempts()

    def attempts(self) -> int:
        assert self.server.stdin is not None
        assert self.server.stdout is not None
        self.server.stdin.write("count\n")
        self.server.stdin.flush()
        return int(self.server.stdout.readline().split()[0])


def _run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")


@pytest.fixture
def link() -> Iterator[Link]:
    problem = _netns_problem()
    if problem is not None:
        unavailable(problem, required="root" not in problem)
    n = os.getpid() % 16384  # a namespace, names and a /30 of our own: runs may overlap
    ns, host_end, ns_end = f"brace{n}", f"bh{n}", f"bn{n}"
    net = f"10.213.{n >> 6}.{(n & 63) << 2}"
    host_ip = net.rsplit(".", 1)[0] + f".{((n & 63) << 2) + 1}"
    ns_ip = net.rsplit(".", 1)[0] + f".{((n & 63) << 2) + 2}"
    server: subprocess.Popen[str] | None = None
    try:
        _run("ip", "netns", "add", ns)
        _run("ip", "link", "add", host_end, "type", "veth", "peer", "name", ns_end)
        _run("ip", "link", "set", ns_end, "netns", ns)
        _run("ip", "addr", "add", f"{host_ip}/30", "dev", host_end)
        _run("ip", "link", "set", host_end, "up")
        inside = ("ip", "netns", "exec", ns)
        _run(*inside, "ip", "addr", "add", f"{ns_ip}/30", "dev", ns_end)
        _run(*inside, "ip", "link", "set", ns_end, "up")
        _run(*inside, "ip", "link", "set", "lo", "up")
        netem = (
            "tc",
            "qdisc",
            "add",
            "dev",
            ns_end,
            "root",
            "netem",
            "delay",
            "20ms",
            "loss",
            "3%",
        )
        try:
            _run(*inside, *netem)
            shaping = "netem delay 20ms loss 3%"
        except RuntimeError:  # a kernel without sch_netem: shape the rate instead
            tbf = ("tc", "qdisc", "add", "dev", ns_end, "root", "tbf", "rate", "4mbit")
            _run(*inside, *tbf, "burst", "16kb", "latency", "400ms")
            shaping = "tbf rate 4mbit"
        server = subprocess.Popen(  # noqa: S603 - this interpreter, this repository's server
            [*inside, sys.executable, "-m", "tests.fault_server", ns_ip],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        yield Link(url, shaping, server)
    finally:
        if server is not None:
            server.kill()
            server.communicate()  # reaps it and closes the pipes
        _ip("netns", "del", ns)  # takes its end of the veth pair, and so the other end
        _ip("link", "del", host_end)


def test_requests_over_an_impaired_link_succeed_within_their_deadline(link: Link) -> None:
    policy = brace.http.standard("far", attempt_timeout=2.0)
    clock = brace.SystemClock()
    with httpx.Client(transport=ResilientTransport(policy)) as client, no_wait():
        for _ in range(8):
            link.play("bytes:32768")
            start = clock.monotonic()
            with brace.deadline(5.0):
                response = client.get(link.url)
            assert response.status_code == 200, link.shaping
            assert len(response.content) == 32768
            assert clock.monotonic() - start < 5.0
    assert link.attempts() >= 8


def test_a_hang_across_the_link_is_cut_at_the_deadline(link: Link) -> None:
    policy = brace.http.standard("far", attempt_timeout=0.3)
    clock = brace.SystemClock()
    with httpx.Client(transport=ResilientTransport(policy)) as client, no_wait():
        link.play("hang", "hang", "hang")
        start = clock.monotonic()
        with pytest.raises(httpx.TimeoutException), brace.deadline(0.8):
            client.get(link.url)
        assert clock.monotonic() - start < 1.2, link.shaping
    assert 2 <= link.attempts() <= 3
