"""Chromium through Playwright, and ``spertmt serve`` in a child process.

Shared by the browser tests (``tests/unit/browser/``, ``make test-browser``) and
``scripts/screenshot_web_page.py``. Playwright normally downloads its own browser build, which
cannot work offline; these helpers drive the system's Chromium instead (Debian's ``chromium``
package), found by :func:`find_chromium`:

1. ``$SPERTMT_CHROMIUM`` (a path or a command name), when set;
2. Debian's real binary ``/usr/lib/chromium/chromium`` (the ``/usr/bin/chromium`` launcher is
   a shell script that prints warnings of its own);
3. the first of ``chromium``, ``chromium-browser``, ``google-chrome`` and
   ``google-chrome-stable`` on ``PATH``.

Example:
    >>> from playwright.sync_api import sync_playwright                   # doctest: +SKIP
    >>> with serving("runs/demo/model") as url, sync_playwright() as p:   # doctest: +SKIP
    ...     page = launch_chromium(p).new_page()
    ...     page.goto(url)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM_ENV = "SPERTMT_CHROMIUM"
"""Environment variable naming the Chromium binary (a path, or a command on ``PATH``)."""
DEBIAN_CHROMIUM = "/usr/lib/chromium/chromium"
"""The binary of Debian's ``chromium`` package, behind the ``/usr/bin/chromium`` launcher."""
COMMANDS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
"""Names looked up on ``PATH`` when neither of the above is there."""
PLAYWRIGHT_PIN = "playwright==1.65.2"
"""The Playwright version the browser tests were written against (``constraints.txt``)."""
INSTALL_HINT = (
    f"make test-browser installs both; by hand: pip install {PLAYWRIGHT_PIN} and "
    f"apt-get install chromium (or set {CHROMIUM_ENV} to a Chromium binary)"
)
SERVING = re.compile(r"^serving .* on (http://\S+) \(docs: ", re.MULTILINE)


def find_chromium() -> str | None:
    """The Chromium binary to drive, or ``None`` when there is none (see the module docstring).

    Raises:
        FileNotFoundError: ``$SPERTMT_CHROMIUM`` is set but names no executable: a
            misconfiguration is an error, never a silent fallback to another browser.
    """
    chosen = os.environ.get(CHROMIUM_ENV, "").strip()
    if chosen:
        found = shutil.which(chosen)
        if found is None:
            raise FileNotFoundError(f"{CHROMIUM_ENV}={chosen} is not an executable file")
        return found
    if os.access(DEBIAN_CHROMIUM, os.X_OK):
        return DEBIAN_CHROMIUM
    for name in COMMANDS:
        found = shutil.which(name)
        if found is not None:
            return found
    return None


def missing() -> str | None:
    """Why the browser checks cannot run here (with how to fix it), or ``None`` when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return f"Playwright is not installed; {INSTALL_HINT}"
    try:
        if find_chromium() is None:
            return f"no Chromium binary found; {INSTALL_HINT}"
    except FileNotFoundError as error:
        return str(error)
    return None


def launch_chromium(playwright: Any, **options: Any) -> Any:
    """Launch :func:`find_chromium`'s browser, headless, through a Playwright instance.

    Args:
        playwright: What ``sync_playwright().start()`` (or its ``with``) gives.
        options: More arguments for ``playwright.chromium.launch``.

    Returns:
        The Playwright ``Browser``.
    """
    executable = find_chromium()
    if executable is None:
        raise FileNotFoundError(f"no Chromium binary found; {INSTALL_HINT}")
    # The GPU process is of no use headless and fails noisily in containers.
    args = ["--disable-gpu", "--no-first-run", "--no-default-browser-check", "--mute-audio"]
    return playwright.chromium.launch(
        executable_path=executable, args=args + list(options.pop("args", [])), **options
    )


@contextlib.contextmanager
def serving(
    model_dir: str | Path, *options: str, timeout: float = 120.0, log: Path | None = None
) -> Iterator[str]:
    """Run ``spertmt serve --model MODEL_DIR --port 0 OPTIONS`` until the ``with`` ends.

    The server picks a free port and prints its address, which this reads back, so two runs
    never race for a port. ``/health`` must answer before the address is given out; the
    server is stopped with SIGTERM (then killed) at the end.

    Args:
        model_dir: The checkpoint to serve.
        options: More ``spertmt serve`` arguments (``--device cpu`` is always given).
        timeout: Seconds the server may take to start.
        log: File for the server's output (default: a temporary file).

    Yields:
        The server's base URL, ``http://127.0.0.1:PORT``.

    Raises:
        RuntimeError: The server exited or did not answer in time (with its output).
    """
    with contextlib.ExitStack() as stack:
        if log is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="spertmt-serve-"))
            log = Path(folder) / "server.log"
        out = stack.enter_context(log.open("w+", encoding="utf-8"))
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", "1")
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
        command = [sys.executable, "-m", "spertmt", "serve", "--model", str(model_dir)]
        command += ["--port", "0", "--device", "cpu", "--log-level", "warning", *options]
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            yield _wait_until_healthy(server, log, timeout)
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(30)


def _wait_until_healthy(server: subprocess.Popen, log: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    url = None
    while True:
        text = log.read_text(encoding="utf-8")
        if server.poll() is not None:
            raise RuntimeError(f"spertmt serve exited with {server.returncode}:\n{text}")
        if url is None and (match := SERVING.search(text)):
            url = match.group(1)
        if url is not None:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if json.loads(answer.read()) == {"status": "ok"}:
                        return url
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"spertmt serve did not answer within {timeout:g} s:\n{text}")
        time.sleep(0.1)


def main() -> int:
    """``python scripts/chromium.py``: print the Chromium binary found, or why there is none."""
    try:
        found = find_chromium()
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if found is None:
        print(f"error: no Chromium binary found; {INSTALL_HINT}", file=sys.stderr)
        return 1
    print(found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
