"""Headless Chromium for the browser tests: Debian's ``chromium`` driven by Playwright.

Playwright cannot download a browser here, so it launches ``/usr/bin/chromium``
through ``executable_path``. Without Chromium or Playwright a browser test
skips, except under ``BRACE_REQUIRE_ALL=1`` (CI), where that is a failure.
"""

from __future__ import annotations

import shutil
from typing import Any

from tests.requires import unavailable

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def sync_playwright_or_skip() -> Any:
    """Playwright's ``sync_playwright``, or skip (fail under BRACE_REQUIRE_ALL=1) if unusable."""
    missing = None
    if shutil.which(CHROMIUM) is None:
        missing = f"{CHROMIUM} is not installed (Debian package 'chromium')"
    else:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            missing = "playwright is not installed (pip install -e '.[dev]')"
    if missing is not None:
        unavailable(missing)
    return sync_playwright
