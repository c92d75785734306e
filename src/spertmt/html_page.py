"""The shell of spertmt's self-contained HTML pages, and the one escaper their text goes through.

The prediction view (:mod:`spertmt.inference.render`) and the error-analysis page
(:mod:`spertmt.evaluation.analysis_html`) are both one page with inline CSS, no script and no
network, that must also be well-formed XML whatever the documents hold. Both build their body
and leave the head, the heading and the escaping of every piece of text to this module, so a
character one page shows safely the other shows safely too.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

__all__ = ["escape", "page", "unprintable"]


def unprintable(ch: str) -> bool:
    r"""Whether ``ch`` is a control, a bidirectional control, a surrogate or a non-character.

    Characters that XML forbids or UTF-8 cannot encode (C0 and C1 controls, lone surrogates,
    U+FFFE/U+FFFF) would make a page that does not parse or encode. Bidirectional embeddings,
    overrides, isolates and marks (U+202A-U+202E, U+2066-U+2069, U+061C, U+200E, U+200F)
    would reorder what the page shows (U+202E turns "Smith" into "htimS").

    Example:
        >>> [unprintable(c) for c in ("a", "\u202e", "\x00", "\t", "\ufffe")]
        [False, True, True, False, True]
    """
    code = ord(ch)
    return (
        (code < 0x20 and ch not in "\t\n\r")
        or 0x7F <= code < 0xA0
        or 0x202A <= code <= 0x202E
        or code in (0x061C, 0x200E, 0x200F)
        or 0x2066 <= code <= 0x2069
        or 0xD800 <= code < 0xE000
        or code in (0xFFFE, 0xFFFF)
    )


def escape(text: object) -> str:
    r"""``str(text)`` escaped for HTML/XML content and attributes.

    Every :func:`unprintable` character becomes U+FFFD, so the page always encodes, parses and
    shows its words in their order.

    Example:
        >>> escape('<b>Smith\u202e</b>') == '&lt;b&gt;Smith\ufffd&lt;/b&gt;'
        True
    """
    cleaned = "".join("\ufffd" if unprintable(ch) else ch for ch in str(text))
    return html.escape(cleaned, quote=True)


def page(title: str, css: str, body: Iterable[str]) -> str:
    r"""A whole page: head, an ``<h1>`` with the title, then the ``body`` fragments, one per line.

    The head has the doctype, the charset, the viewport, ``title`` and ``css``.

    ``title`` is escaped here; ``css`` and ``body`` are markup the caller built (with
    :func:`escape` around every piece of text in them).

    Example:
        >>> text = page("A & B", "h1{margin:0}", ["<p>x</p>"])
        >>> text.startswith("<!DOCTYPE html>") and "<h1>A &amp; B</h1>\n<p>x</p>" in text
        True
    """
    head = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8"/>',
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>',
        f"<title>{escape(title)}</title>",
        f"<style>{css}</style>",
        "</head>",
        "<body>",
        f"<h1>{escape(title)}</h1>",
    ]
    return "\n".join([*head, *body, "</body>", "</html>", ""])
