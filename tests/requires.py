"""What a test needs from the machine: skip without it, except in CI, where it must be there."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(reason: str, *, required: bool = True) -> NoReturn:
    """Skip for ``reason``; under ``BRACE_REQUIRE_ALL=1`` (CI) fail instead, if ``required``."""
    if required and os.environ.get("BRACE_REQUIRE_ALL") == "1":
        pytest.fail(f"BRACE_REQUIRE_ALL=1 but {reason}")
    pytest.skip(reason)
