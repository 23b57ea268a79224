"""Skip brace's backoff sleeps inside a block."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from brace._clock import _NO_WAIT

__all__ = ["no_wait"]


@contextlib.contextmanager
def no_wait() -> Iterator[None]:
    """Make brace's backoff and wait sleeps take no time inside the block.

    Scoped to the current context (a `contextvars` variable), never
    process-global: other threads and tasks keep waiting normally, while
    tasks created inside the block inherit it. Timeouts and deadlines are
    unaffected; only the waits a policy chooses (retry backoff, rate-limit
    waits) are skipped.
    """
    token = _NO_WAIT.set(True)
    try:
        yield
    finally:
        _NO_WAIT.reset(token)
