"""Screenshot of the page that ``spertmt serve`` shows at ``/`` (``docs/img/web_page.png``).

Serves a trained checkpoint with ``spertmt serve``, opens the page in Chromium (through
Playwright, as the browser tests do: ``scripts/chromium.py``), pastes a text, predicts, and
saves the window as a PNG. The committed image was made from the model ``make demo`` trains
(MiniLM, CoNLL04, 5 epochs)::

    make demo
    OMP_NUM_THREADS=1 .venv/bin/python scripts/screenshot_web_page.py --model runs/demo/model

Look at the image before committing it: the entities must be highlighted, the relations drawn
as arcs, and nothing cut off.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chromium import launch_chromium, missing, serving

ROOT = Path(__file__).resolve().parents[1]
TEXT = (
    "John Smith, a lawyer from Boston, joined Microsoft in 1998. "
    "The gunman who killed Mayor George Moscone in San Francisco was arrested."
)
MAX_BYTES = 300_000
"""Largest image worth committing; a bigger one is reported (a smaller window helps)."""


def screenshot(model: Path, out: Path, *, text: str = TEXT, width: int = 1000) -> int:
    """Save the page with ``model``'s prediction for ``text``; returns the PNG's size in bytes."""
    from playwright.sync_api import sync_playwright

    with serving(model) as url, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            # A short window: the full-page shot is then exactly as tall as the content.
            page = browser.new_page(viewport={"width": width, "height": 400})
            page.goto(url + "/")
            page.wait_for_selector("#legend .chip")
            page.fill("#text", text)
            with page.expect_response(lambda r: r.url.endswith("/predict")):
                page.click("#go")
            page.wait_for_function(
                "document.getElementById('status').textContent !== 'predicting…'"
            )
            page.wait_for_selector("#out g.entity")
            page.mouse.move(0, 0)  # no hover state in the picture
            page.evaluate("document.activeElement.blur()")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True)
        finally:
            browser.close()
    return out.stat().st_size


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--model DIR --out PNG [--text TEXT] [--width PX]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "runs" / "demo" / "model")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "web_page.png")
    parser.add_argument("--text", default=TEXT)
    parser.add_argument("--width", type=int, default=1000, help="window width in px")
    args = parser.parse_args(argv)
    reason = missing()
    if reason is not None:
        print(f"error: {reason}", file=sys.stderr)
        return 1
    if not (args.model / "config.json").is_file():
        print(f"error: {args.model} is not a checkpoint folder (run `make demo`)", file=sys.stderr)
        return 1
    size = screenshot(args.model, args.out, text=args.text, width=args.width)
    print(f"wrote {args.out} ({size / 1000:.0f} kB); look at it before committing it")
    if size > MAX_BYTES:
        print(f"warning: over {MAX_BYTES / 1000:.0f} kB; try a smaller --width", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
