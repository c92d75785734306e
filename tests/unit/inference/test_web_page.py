"""The page for ``/`` of ``spertmt serve``: self-contained, its script parses, labelled controls."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from spertmt.inference.render import PALETTE
from spertmt.inference.web_page import web_page_html


def test_the_page_needs_nothing_from_the_network():
    page = web_page_html()
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<(img|iframe)\b|<script\s+src|https?://(?!www\.w3\.org/2000/svg)", page)
    # The one link is an empty icon, so that the browser does not ask the server for one.
    assert re.findall(r"<link\b[^>]*>", page) == ['<link rel="icon" href="data:,"/>']
    assert 'fetch("predict"' in page and 'fetch("info"' in page  # relative: works behind a prefix
    assert PALETTE[0] in page


def test_every_control_has_a_label():
    page = web_page_html()
    for control in re.findall(r'<(?:input|select|textarea)[^>]*id="([^"]+)"', page):
        assert re.search(
            rf'<label for="{control}"|<label>[^<]*<(?:input|select)[^>]*id="{control}"', page
        ), control
    assert 'role="status"' in page and 'aria-live="polite"' in page


def test_model_text_is_never_inserted_as_html():
    assert "innerHTML" not in web_page_html()


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to parse the script")
def test_the_script_parses(tmp_path):
    script = re.search(r"<script>(.*)</script>", web_page_html(), re.DOTALL).group(1)
    (tmp_path / "page.js").write_text(script, encoding="utf-8")
    subprocess.run(["node", "--check", str(tmp_path / "page.js")], check=True)
