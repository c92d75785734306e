"""Browser fixtures: Debian's Chromium driven by Playwright, and pages that are watched.

Every test here is marked ``browser`` (``tests/conftest.py``). It skips, with the reason and
the fix, when Playwright or a Chromium binary is missing, or fails instead when
``$SPERTMT_REQUIRE_BROWSER`` (``make test-browser`` sets it) or ``$SPERTMT_CHROMIUM`` is set.
``scripts/chromium.py`` finds the binary: ``$SPERTMT_CHROMIUM``, Debian's
``/usr/lib/chromium/chromium``, then ``PATH``.
A watched page fails its test on any console error or warning, any uncaught exception, and
any request that leaves the page's own origin (such requests are also aborted, so a page that
needs the network cannot pass by reaching it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))
from chromium import CHROMIUM_ENV, launch_chromium, missing, serving  # noqa: E402
from pages import check_watched, open_watched  # noqa: E402

REQUIRE_ENV = "SPERTMT_REQUIRE_BROWSER"
"""When set (``make test-browser`` sets it), a missing Playwright or Chromium fails the tests;
so does a ``$SPERTMT_CHROMIUM`` that names no executable."""


@pytest.fixture(scope="module")
def chromium():
    """A headless Chromium (skips the test, saying how to install it, when there is none).

    One per module, never per session: while Playwright's sync API runs, its event loop counts
    as running in this thread, so ``asyncio.run`` (and the tests that use it) would fail.
    """
    reason = missing()
    if reason is not None:
        # Asked for (`make test-browser`, or a Chromium named): skipping would hide the problem.
        if os.environ.get(REQUIRE_ENV) or os.environ.get(CHROMIUM_ENV):
            pytest.fail(f"browser tests: {reason}", pytrace=False)
        pytest.skip(f"browser tests: {reason}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server_url(chromium, eager_checkpoint, tmp_path_factory):
    """``spertmt serve`` of the tiny eager checkpoint, in a child process on a free port."""
    log = tmp_path_factory.mktemp("serve") / "server.log"
    with serving(eager_checkpoint, "--max-texts", "8", log=log) as url:
        yield url


@pytest.fixture
def watched_page(chromium, server_url):
    """The server's page at ``/``, watched; the test fails on any problem it reported."""
    context = chromium.new_context(accept_downloads=True, viewport={"width": 1100, "height": 800})
    try:
        watched = open_watched(context, server_url)
        watched.page.goto(server_url + "/")
        # /info has answered once the legend shows the model's entity types.
        watched.page.wait_for_selector("#legend .chip")
        yield watched
        check_watched(watched)
    finally:
        context.close()
