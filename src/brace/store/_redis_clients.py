"""The Redis connections a `RedisStore` opens: configured like the user's, bounded by ``timeout``.

A store never sends its commands through the client it was given: that
client's timeouts and retries are the application's (redis-py retries a
failed command up to ten times by default), and a store operation must end
within ``timeout``. It opens its own pools with the same address, database,
credentials and TLS settings, a socket timeout of ``timeout``, no retries and
decoded replies. Blocking waits (a bulkhead's queue) use a second pool whose
reads may last a wait slice longer.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import redis.asyncio
import redis.asyncio.connection
import redis.asyncio.retry
import redis.backoff
import redis.connection
import redis.retry

import redis
from brace._errors import ConfigError

__all__ = ["BLOCK_LATE", "BLOCK_SLICE", "Settings", "settings_of"]

#: Longest single blocking read (BLPOP) in seconds; a longer wait is several reads.
BLOCK_SLICE = 1.0
#: How late Redis may answer a BLPOP that timed out: it checks such timeouts when its
#: event loop wakes, which may take one server tick (100 ms at the default ``hz 10``).
BLOCK_LATE = 0.25

_CLASSES = ("Connection", "SSLConnection", "UnixDomainSocketConnection")

# The settings copied from the user's client: where and as whom to connect. Everything
# else (timeouts, retries, health checks, pool internals) is the store's own.
_COPIED = frozenset(
    {
        "host",
        "port",
        "path",
        "db",
        "username",
        "password",
        "credential_provider",
        "client_name",
        "protocol",
        "socket_keepalive",
        "socket_keepalive_options",
        "socket_type",
    }
)


def _accepted(cls: type) -> set[str]:
    """Keyword arguments some ``__init__`` in ``cls``'s MRO accepts."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for param in inspect.signature(init).parameters.values():
            if param.kind is inspect.Parameter.KEYWORD_ONLY or (
                param.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and param.name != "self"
            ):
                names.add(param.name)
    return names


def _describe(kwargs: dict[str, Any], scheme: str) -> str:
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
    host, port = kwargs.get("host", "localhost"), kwargs.get("port", 6379)
    return f"{scheme}://{host}:{port}/{kwargs.get('db', 0)}"


@dataclass(frozen=True)
class Settings:
    """How to reach Redis: a connection class name and its keyword arguments."""

    kind: str  # one of _CLASSES
    kwargs: dict[str, Any]
    timeout: float

    @property
    def description(self) -> str:
        """The address, without credentials, for events and reprs."""
        return _describe(self.kwargs, "rediss" if self.kind == "SSLConnection" else "redis")

    def _pool_kwargs(self, cls: type, blocking: bool) -> dict[str, Any]:
        accepted = _accepted(cls)
        kwargs = {
            key: value
            for key, value in self.kwargs.items()
            if (key in _COPIED or key.startswith("ssl_")) and key in accepted
        }
        read = self.timeout + BLOCK_SLICE + BLOCK_LATE if blocking else self.timeout
        kwargs.update(
            socket_timeout=read,
            socket_connect_timeout=self.timeout,
            retry_on_timeout=False,
            health_check_interval=0,
            decode_responses=True,
        )
        return {key: value for key, value in kwargs.items() if key in accepted}

    def _sync_kwargs(self, blocking: bool) -> tuple[type, dict[str, Any]]:
        cls = getattr(redis.connection, self.kind)
        kwargs = self._pool_kwargs(cls, blocking)
        kwargs["retry"] = _retry(redis.retry.Retry, blocking)
        return cls, kwargs

    def sync_client(self, *, blocking: bool = False) -> redis.Redis:
        """A new sync client on its own pool."""
        cls, kwargs = self._sync_kwargs(blocking)
        pool = redis.ConnectionPool(connection_class=cls, **kwargs)
        return redis.Redis(connection_pool=pool)

    def connection(self) -> Any:
        """A new sync connection (not yet connected): what the store's scripts run on."""
        cls, kwargs = self._sync_kwargs(blocking=False)
        return cls(**kwargs)

    def async_client(self, *, blocking: bool = False) -> redis.asyncio.Redis:
        """A new asyncio client on its own pool (bound to the loop that first uses it)."""
        cls = getattr(redis.asyncio.connection, self.kind)
        kwargs = self._pool_kwargs(cls, blocking)
        kwargs["retry"] = _retry(redis.asyncio.retry.Retry, blocking)
        pool = redis.asyncio.ConnectionPool(connection_class=cls, **kwargs)
        return redis.asyncio.Redis(connection_pool=pool)


def _from_pool(param: str, client: object, timeout: float) -> Settings:
    pool = getattr(client, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", None)
    cls = getattr(pool, "connection_class", None)
    name = getattr(cls, "__name__", "")
    if not isinstance(kwargs, dict) or name not in _CLASSES:
        raise ConfigError(
            f"{param}={client!r} is not allowed; expected a redis.Redis or redis.asyncio.Redis "
            "client on a connection pool (TCP, TLS or a Unix socket), or url= (a Redis "
            "Cluster client is not supported)"
        )
    return Settings(name, dict(kwargs), timeout)


def _from_url(url: object, timeout: float) -> Settings:
    if not isinstance(url, str):
        raise ConfigError(f"url={url!r} is not allowed; expected a str like 'redis://host:6379/0'")
    try:
        pool = redis.ConnectionPool.from_url(url)
    except ValueError as exc:
        raise ConfigError(
            f"url={url!r} is not allowed: {exc}; expected redis://, rediss:// or unix://"
        ) from exc
    return _from_pool("url", type("_Client", (), {"connection_pool": pool})(), timeout)


def settings_of(client: object, async_client: object, url: object, timeout: float) -> Settings:
    """Where a store connects, from whichever of ``client``, ``async_client``, ``url`` is given.

    Raises:
        ConfigError: none of them, or more than one, or one that is not a Redis client.
    """
    given = {
        name: value
        for name, value in (("client", client), ("async_client", async_client), ("url", url))
        if value is not None
    }
    if len(given) != 1:
        raise ConfigError(
            f"RedisStore got {', '.join(given) or 'none'} of client=, async_client=, url=; "
            "expected exactly one (the store opens its own sync and asyncio connections "
            "configured like it)"
        )
    if url is not None:
        return _from_url(url, timeout)
    name, value = next(iter(given.items()))
    return _from_pool(name, value, timeout)


def _retry(kind: Any, blocking: bool) -> Any:
    """The retry of every store connection, sync and asyncio (``kind``: redis-py's class).

    A broken connection (one kept from before a server restart) gets one more attempt, on a
    new connection; a timeout never does, and a blocking pop is not sent twice.
    """
    return kind(
        redis.backoff.NoBackoff(),
        0 if blocking else 1,
        supported_errors=(redis.exceptions.ConnectionError,),
    )
