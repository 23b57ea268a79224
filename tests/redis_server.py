"""A real ``redis-server`` for the tests: started on a free port, killed, paused, restarted.

The tests of the Redis store run against Debian's ``redis-server`` binary,
started here with persistence off (``--save "" --appendonly no``), so a
killed server comes back empty, as a crashed cache does. Without the binary
(or without redis-py) the tests skip with the reason, except under
``BRACE_REQUIRE_ALL=1`` (CI), where that is a failure.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import brace

#: Real time: the tests wait on a real server.
REAL = brace.SystemClock()

BINARY = "redis-server"


def require_redis() -> str:
    """The path of ``redis-server``, after checking redis-py imports; else skip (or fail in CI)."""
    from tests.requires import unavailable  # pytest: not imported by the fleet's workers

    missing = None
    path = shutil.which(BINARY)
    if path is None:
        missing = f"{BINARY} is not installed (Debian package 'redis-server')"
    else:
        try:
            import redis  # noqa: F401
        except ImportError:
            missing = "redis-py is not installed (pip install -e '.[dev]')"
    if missing is not None:
        unavailable(missing)
    assert path is not None
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One ``redis-server`` process on ``port``; ``url`` reaches it."""

    def __init__(self, binary: str, port: int | None = None) -> None:
        self.binary = binary
        self.port = free_port() if port is None else port
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.mkdtemp(prefix="brace-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", self._dir,
            "--enable-debug-command", "local",
            "--loglevel", "warning",
        ]  # fmt: skip
        self.process = subprocess.Popen(  # noqa: S603 - a fixed binary, our own arguments
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = REAL.monotonic() + 10.0
        while REAL.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"redis-server exited at start: {err}")
            with contextlib.suppress(Exception):
                if self.client().ping():
                    return self
            REAL.sleep(0.01)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def client(self, **kwargs: Any) -> Any:
        """A fresh redis-py client for the test's own commands (never the store's)."""
        import redis

        options = {"socket_timeout": 5, "decode_responses": True, **kwargs}
        return redis.Redis(host="127.0.0.1", port=self.port, **options)

    def kill(self) -> None:
        """SIGKILL: the server vanishes mid-command, with all its data."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            if self.process.stderr is not None:
                self.process.stderr.close()
            self.process = None

    def restart(self) -> RedisServer:
        """Start again on the same port (empty)."""
        return self.start()

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self._dir, ignore_errors=True)


@contextlib.contextmanager
def redis_server(port: int | None = None) -> Iterator[RedisServer]:
    """A started server, stopped (and its directory removed) on exit."""
    server = RedisServer(require_redis(), port).start()
    try:
        yield server
    finally:
        server.stop()


def commands_processed(server: RedisServer) -> dict[str, int]:
    """``INFO commandstats`` as ``{command: calls}`` (lower-case command names)."""
    stats: dict[str, Any] = server.client().info("commandstats")
    return {name.removeprefix("cmdstat_"): int(entry["calls"]) for name, entry in stats.items()}


def data_dir(server: RedisServer) -> Path:
    return Path(server._dir)
