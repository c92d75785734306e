"""Watched pages: what a page in Chromium asked for and what went wrong in it.

:func:`open_watched` records every request, aborts those outside the page's origin, and
collects console errors and warnings and uncaught exceptions; :func:`check_watched` fails on
any of them. Used by the fixtures in ``conftest.py`` and by the tests that open other pages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

TIMEOUT_MS = 20_000
"""Longest wait for any one thing in a page (the tiny model answers in well under a second)."""


@dataclass
class Watched:
    """A page with everything it requested and every problem it reported.

    ``requests``: every URL asked for; ``bodies``: the body of every ``POST predict``;
    ``outside``: URLs outside ``origin`` (aborted); ``problems``: console errors and warnings
    and uncaught exceptions, of which ``expected`` patterns are let pass.
    """

    page: Any
    origin: str
    requests: list[str] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    expected: list[re.Pattern[str]] = field(default_factory=list)

    def expect_problem(self, pattern: str) -> None:
        """Let console messages matching ``pattern`` pass (a test that provokes an error)."""
        self.expected.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [p for p in self.problems if not any(e.search(p) for e in self.expected)]


def _same_origin(url: str, origin: str) -> bool:
    if url.startswith(("data:", "blob:" + origin, "about:")):
        return True
    return url == origin or url.startswith(origin + "/")


def open_watched(context, origin: str) -> Watched:
    """A new page in ``context`` whose requests and console are recorded (see the module)."""
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    watched = Watched(page, origin)

    def on_request(request):
        watched.requests.append(request.url)
        if request.method == "POST" and request.url.endswith("/predict"):
            watched.bodies.append(request.post_data)
        if not _same_origin(request.url, origin):
            watched.outside.append(request.url)

    def guard(route):
        if _same_origin(route.request.url, origin):
            route.continue_()
        else:
            route.abort()

    page.on("request", on_request)
    page.on(
        "console",
        lambda m: m.type in ("error", "warning") and watched.problems.append(f"{m.type}: {m.text}"),
    )
    page.on("pageerror", lambda error: watched.problems.append(f"page error: {error}"))
    if origin.startswith("http"):
        context.route("**/*", guard)
    return watched


def check_watched(watched: Watched) -> None:
    assert watched.outside == [], f"requests outside {watched.origin}: {watched.outside}"
    assert watched.unexpected() == [], "\n".join(watched.unexpected())
