"""The system Chromium, driven by Playwright, for the report tests (see _browser.py)."""

from __future__ import annotations

import pytest
from _browser import ARGS, chromium


@pytest.fixture(scope="module")
def browser():
    exe = chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=ARGS)
        yield b
        b.close()
