"""brace.testing.StoreConformance, run against the in-memory store and a real Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import brace.testing
from brace.store import MemoryStore
from tests.redis_server import RedisServer, redis_server


class TestMemoryStore(brace.testing.StoreConformance):
    def make_stores(self) -> tuple[Any, Any]:
        store = MemoryStore()
        return store, store


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with redis_server() as started:
        yield started


class TestRedisStore(brace.testing.StoreConformance):
    @pytest.fixture(autouse=True)
    def _server(self, server: RedisServer) -> Iterator[None]:
        self.url = server.url
        self.stores: list[Any] = []
        yield
        for store in self.stores:
            store.close()

    def make_stores(self) -> tuple[Any, Any]:
        from brace.store import RedisStore

        prefix = f"t{uuid.uuid4().hex[:12]}"  # two "processes" on one fresh state
        # A generous timeout: a slow round trip on a loaded machine would otherwise test
        # the local fallback instead of the sharing (tests/test_redis_store.py tests that).
        one, two = (RedisStore.from_url(self.url, prefix=prefix, timeout=2.0) for _ in range(2))
        self.stores += [one, two]
        return one, two
