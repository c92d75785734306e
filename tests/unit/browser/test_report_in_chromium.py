"""The report of ``spertmt analyze -o report.html``, opened from disk in Chromium.

The report is made from the hand-scored evaluator fixture (``tests/data/eval``: a wrong type,
a spurious and a missed entity, relations missed and spurious for several causes). The page
must show every section with the numbers of ``--json``, open its examples from the keyboard,
run no script, load nothing but itself, and report no console error or warning.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pages import check_watched, open_watched

from spertmt.cli import main

EVAL = Path(__file__).resolve().parents[2] / "data" / "eval"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    args = ["analyze", "--gold", str(EVAL / "gold.json"), "--pred", str(EVAL / "pred.json")]
    args += ["--types", str(EVAL / "types.json"), "-o", str(folder / "report.html")]
    assert main([*args, "--json", str(folder / "report.json")]) == 0
    data = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    return folder / "report.html", data


@pytest.fixture
def report_page(chromium, report):
    context = chromium.new_context(viewport={"width": 1100, "height": 800})
    try:
        path, _ = report
        watched = open_watched(context, "file://")
        watched.page.goto(path.as_uri())
        yield watched
        check_watched(watched)
        assert watched.requests == [path.as_uri()]  # the page alone: no font, style or image
    finally:
        context.close()


def rows(page, caption):
    """``{row header: count}`` of the table with this caption (its first number column)."""
    return page.evaluate(
        """(caption) => {
          const table = [...document.querySelectorAll('table')]
            .find((t) => t.caption && t.caption.textContent.startsWith(caption));
          if (!table) return null;
          return Object.fromEntries([...table.querySelectorAll('tr')].slice(1)
            .filter((tr) => tr.querySelector('th[scope=row]'))
            .map((tr) => [tr.querySelector('th').textContent,
                          Number(tr.querySelector('td').textContent)]));
        }""",
        caption,
    )


def test_the_report_shows_every_section_with_the_numbers(report_page, report):
    page, (_, data) = report_page.page, report
    assert page.title() == "spertmt error analysis"
    assert page.evaluate("document.scripts.length") == 0
    headings = page.locator("h2").all_inner_texts()
    assert headings == [
        "Entity errors",
        "Relation errors (strict)",
        "Confusion matrices",
        "Examples",
    ]
    for section in ("entities", "relations", "confusion", "examples"):
        assert page.is_visible(f"h2#{section}")
        # Each heading is followed by its card, and the card has something in it.
        card = page.locator(f"h2#{section} + .card")
        assert card.is_visible() and card.bounding_box()["height"] > 30
    summary = page.inner_text(".summary")
    assert f"{data['entities']['gold']} gold, {data['entities']['predicted']} predicted" in summary

    errors = data["entities"]["errors"]
    assert rows(page, "By kind") == {kind: errors[kind] for kind in rows(page, "By kind")}
    assert {k: v for k, v in rows(page, "By kind").items() if v} == errors
    assert rows(page, "Gold relations not predicted") == data["relations"]["missed_by_cause"]
    assert rows(page, "Predicted relations not in gold") == data["relations"]["spurious_by_cause"]
    # No boundary error in this fixture: each of its tables says "none", with no rows of zeros.
    tables = {
        "Boundary errors by IoU": "boundary_iou",
        "Boundary errors by shape": "boundary_shape",
    }
    for caption, key in tables.items():
        assert not any(data["entities"][key].values())
        assert rows(page, caption) == {}
        table = page.locator("table", has=page.locator("caption", has_text=caption))
        assert table.locator("td").all_inner_texts() == ["none"]
    entity_matrix = page.locator("table", has=page.locator("caption", has_text="Entities ("))
    assert entity_matrix.locator("tr").count() == len(data["entities"]["confusion"]) + 1
    # Nothing is wider than the window: wide tables scroll inside their cards.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_the_examples_open_from_the_keyboard(report_page, report):
    page, (_, data) = report_page.page, report
    summaries = page.locator("details > summary")
    kinds = [text.rsplit(" (", 1)[0] for text in summaries.all_inner_texts()]
    assert sorted(kinds) == sorted(data["examples"])  # the JSON's keys are sorted
    assert not page.is_visible("ol.examples li")
    page.keyboard.press("Tab")  # the summaries are the page's only controls
    assert page.evaluate("document.activeElement.tagName") == "SUMMARY"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.keyboard.press("Enter")
    first = page.locator("details").first
    assert first.evaluate("(d) => d.open")
    example = first.locator("ol.examples li").first
    assert example.is_visible()
    # The gold span is underlined and the predicted one boxed, as the key above says.
    kind = kinds[0]
    if data["examples"][kind][0]["gold_spans"]:
        assert (
            example.locator(".g").first.evaluate("(e) => getComputedStyle(e).borderBottomStyle")
            == "solid"
        )
    if data["examples"][kind][0]["pred_spans"]:
        assert (
            example.locator(".p").first.evaluate("(e) => getComputedStyle(e).outlineStyle")
            == "solid"
        )
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    assert page.locator("details").nth(1).evaluate("(d) => d.open")
