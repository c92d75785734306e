"""Tests of the HTML renderer (no model: documents are built by hand)."""

from __future__ import annotations

import doctest
import itertools
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from spertmt.inference import render
from spertmt.inference.render import MAX_LINE_WIDTH, PALETTE, render_html
from spertmt.schema import Document, Entity, EntityType, Relation, RelationType, TypeSchema

TYPES = TypeSchema(
    (
        EntityType("Loc", "L", "Location"),
        EntityType("Org", "O", "Organization"),
        EntityType("Peop", "P", "People"),
        EntityType("Other", "X", "Other"),
    ),
    (
        RelationType("Live_In", "LI", "Live in"),
        RelationType("Work_For", "WF", "Work for"),
        RelationType("OrgBased_In", "OBI", "Organization based in"),
        RelationType("Near", "N", "Near", symmetric=True),
    ),
)

SENTENCE = Document(
    tokens=("John", "Smith", "works", "for", "Acme", "Corp", "in", "Boston", "."),
    entities=(
        Entity("Peop", 0, 2, score=0.98),
        Entity("Org", 4, 6, score=0.91),
        Entity("Loc", 7, 8, score=0.87),
    ),
    relations=(
        Relation("Work_For", 0, 1, score=0.77),
        Relation("OrgBased_In", 1, 2, score=0.66),
        Relation("Live_In", 0, 2, score=0.55),
    ),
    orig_id="s-1",
)


# --- helpers ----------------------------------------------------------------------------------


def parse(page: str) -> ET.Element:
    """Parse the page as XML (the renderer promises XHTML-compatible output)."""
    return ET.fromstring(page)


def with_class(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [el for el in root.iter(tag) if cls in el.get("class", "").split()]


def drawn_relations(root: ET.Element) -> list[int]:
    """Relation indices drawn as arcs (one ``g.arc`` per drawn relation)."""
    return [int(g.get("data-relation", "-1")) for g in with_class(root, "g", "arc")]


def tabled_relations(root: ET.Element) -> list[int]:
    return [int(tr.get("data-relation", "-1")) for tr in root.iter("tr") if tr.get("data-relation")]


def sections(root: ET.Element) -> list[ET.Element]:
    return with_class(root, "section", "doc")


def rect_box(rect: ET.Element) -> tuple[float, float, float, float]:
    x, y = float(rect.get("x", "0")), float(rect.get("y", "0"))
    return x, y, x + float(rect.get("width", "0")), y + float(rect.get("height", "0"))


def overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


class TagBalance(HTMLParser):
    """Checks that every non-void HTML tag is closed in order."""

    VOID = {"meta", "br", "hr", "img", "input", "link"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
        else:
            self.stack.pop()


# --- page structure ---------------------------------------------------------------------------


def test_page_is_well_formed() -> None:
    page = render_html([SENTENCE, Document(())], TYPES)
    assert page.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8"/>' in page
    root = parse(page)
    assert root.tag == "html"
    checker = TagBalance()
    checker.feed(page)
    checker.close()
    assert checker.errors == []
    assert checker.stack == []


def test_page_is_self_contained() -> None:
    page = render_html([SENTENCE], TYPES).lower()
    for forbidden in ("<script", "http:", "https:", "url(", "@import", " src=", "<link"):
        assert forbidden not in page


def test_escapes_markup_everywhere() -> None:
    evil = "<script>alert('x')</script>"
    doc = Document(
        tokens=(evil, "&", '"q"', "<img src=x onerror=alert(1)>"),
        entities=(Entity("Peop", 0, 1), Entity("Org", 3, 4)),
        relations=(Relation("Work_For", 0, 1),),
        orig_id="<id&>",
    )
    page = render_html([doc], TYPES, title="<T&>")
    assert "<script" not in page
    assert "<img" not in page
    assert "&lt;script&gt;" in page
    root = parse(page)
    words = [el.text for el in with_class(root, "text", "tok")]
    assert words == [evil, "&", '"q"', "<img src=x onerror=alert(1)>"]
    assert root.findtext("head/title") == "<T&>"
    assert "<id&>" in "".join(sections(root)[0].itertext())


def test_control_characters_do_not_break_the_page() -> None:
    doc = Document(tokens=("a\x00b", "c\x1bd", "\ud800", "\uffff"), entities=(Entity("Loc", 0, 1),))
    page = render_html([doc], TYPES)
    page.encode("utf-8")
    parse(page)


def test_bidirectional_overrides_cannot_reverse_what_the_page_shows() -> None:
    doc = Document(
        tokens=("\u202eJohn", "Smith\u202c", "\u2067x"), entities=(Entity("Peop", 0, 2),)
    )
    page = render_html([doc], TYPES)
    for control in ("\u202e", "\u202c", "\u2067"):
        assert control not in page
    assert "\ufffdJohn" in page
    assert "unicode-bidi:isolate" in page  # right-to-left words stay inside their box


def test_unicode_and_wide_characters() -> None:
    cjk = Document(tokens=("東京", "🚗", "é"), entities=(Entity("Loc", 0, 1),))
    ascii_doc = Document(tokens=("ab", "c", "e"), entities=(Entity("Loc", 0, 1),))
    page = render_html([cjk], TYPES)
    assert "東京" in page and "🚗" in page
    widths = [
        float(parse(render_html([d], TYPES)).iter("svg").__next__().get("width", "0"))
        for d in (cjk, ascii_doc)
    ]
    # Wide characters take two cells: the CJK line is wider than the same number of letters.
    assert widths[0] > widths[1]


# --- legend and colours -----------------------------------------------------------------------


def test_legend_lists_every_entity_type_in_schema_order() -> None:
    doc = Document(tokens=("x", "y"), entities=(Entity("Alien", 0, 1),))
    root = parse(render_html([doc], TYPES))
    legend = with_class(root, "div", "legend")[0]
    chips = with_class(legend, "span", "chip")
    assert [c.text for c in chips] == [*TYPES.entity_names, "Alien"]
    colours = [c.get("style", "").split(";")[0] for c in chips]
    assert colours[0] == f"background:{PALETTE[0]}"
    assert len(set(colours)) == len(colours)
    legend_text = "".join(legend.itertext())
    for name in TYPES.relation_names:
        assert name in legend_text


def test_entity_colour_follows_type_index() -> None:
    docs = [SENTENCE, Document(("Paris",), (Entity("Loc", 0, 1),))]
    root = parse(render_html(docs, TYPES))
    fills: dict[str, set[str]] = {}
    for section in sections(root):
        for group in with_class(section, "g", "entity"):
            rect = group.find("rect")
            assert rect is not None
            label = "".join(group.itertext())
            fills.setdefault(rect.get("stroke", ""), set()).add(label.split(":")[0])
    assert fills[PALETTE[TYPES.entity_names.index("Loc")]] == {"Loc"}
    assert fills[PALETTE[TYPES.entity_names.index("Org")]] == {"Org"}


@pytest.mark.parametrize("background", [*PALETTE, "#ffffff", "#000000", "#777777"])
def test_label_text_contrast(background: str) -> None:
    text = render._text_colour(background)
    assert render._contrast(text, background) >= 3.0


# --- entities, relations, scores --------------------------------------------------------------


def test_every_entity_and_relation_is_drawn_with_label_and_score() -> None:
    root = parse(render_html([SENTENCE], TYPES))
    entities = with_class(root, "g", "entity")
    assert sorted(int(g.get("data-entity", "-1")) for g in entities) == [0, 1, 2]
    labels = [el.text for el in with_class(root, "text", "elabel")]
    assert sorted(labels) == ["Loc", "Org", "Peop"]
    assert sorted(drawn_relations(root)) == [0, 1, 2]
    relation_labels = [
        g.find("text").text  # type: ignore[union-attr]
        for g in with_class(root, "g", "rlabel")
    ]
    assert sorted(relation_labels) == ["Live_In", "OrgBased_In", "Work_For"]
    tooltips = [el.text or "" for el in root.iter("title")]
    assert any("score 0.980" in t for t in tooltips)  # entity
    assert any("Work_For" in t and "score 0.770" in t for t in tooltips)  # relation
    assert tabled_relations(root) == []


def test_symmetric_relations_have_arrows_both_ways() -> None:
    doc = Document(
        tokens=("Lyon", "is", "near", "Geneva", "and", "Bob", "lives", "in", "Lyon"),
        entities=(Entity("Loc", 0, 1), Entity("Loc", 3, 4), Entity("Peop", 5, 6)),
        relations=(Relation("Near", 0, 1), Relation("Live_In", 2, 0)),
    )
    root = parse(render_html([doc], TYPES))
    arrows = {
        int(g.get("data-relation", "-1")): len(with_class(g, "path", "arrow"))
        for g in with_class(root, "g", "arc")
    }
    assert arrows == {0: 2, 1: 1}


def test_nested_entities_are_both_drawn_one_inside_the_other() -> None:
    doc = Document(
        tokens=("University", "of", "California", "in", "Berkeley"),
        entities=(Entity("Org", 0, 3), Entity("Loc", 2, 3), Entity("Org", 0, 3, score=0.2)),
    )
    root = parse(render_html([doc], TYPES))
    boxes = {}
    for group in with_class(root, "g", "entity"):
        rect = group.find("rect")
        assert rect is not None
        boxes[int(group.get("data-entity", "-1"))] = rect_box(rect)
    assert sorted(boxes) == [0, 1, 2]
    inner, outer = boxes[1], boxes[0]
    assert outer[0] < inner[0] and outer[1] < inner[1]
    assert outer[2] > inner[2] and outer[3] > inner[3]
    # Two entities with the same span are stacked, not drawn on top of each other.
    assert boxes[0] != boxes[2]


def test_arc_labels_never_overlap() -> None:
    tokens = tuple(f"w{i}" for i in range(14))
    entities = tuple(Entity("Peop" if i % 2 else "Loc", i, i + 1) for i in range(0, 14, 2))
    relations = tuple(
        Relation("OrgBased_In" if (h + t) % 2 else "Live_In", h, t)
        for h, t in itertools.permutations(range(len(entities)), 2)
        if h < t or (h + t) % 3 == 0
    )
    root = parse(render_html([Document(tokens, entities, relations)], TYPES))
    assert sorted(drawn_relations(root)) == list(range(len(relations)))
    label_boxes = [rect_box(g.find("rect")) for g in with_class(root, "g", "rlabel")]  # type: ignore[arg-type]
    for a, b in itertools.combinations(label_boxes, 2):
        assert not overlaps(a, b)


def arc_feet(root: ET.Element) -> dict[int, tuple[float, float]]:
    """``relation -> (x of the head foot, x of the tail foot)`` from each arc's path data."""
    feet = {}
    for group in with_class(root, "g", "arc"):
        path = group.find("path")
        assert path is not None
        d = path.get("d", "")
        x_head = float(d[1:].split()[0])
        x_tail = float(d.rsplit("Q", 1)[1].split()[0])
        feet[int(group.get("data-relation", "-1"))] = (x_head, x_tail)
    return feet


def test_arcs_on_one_entity_have_separate_nested_feet() -> None:
    feet = arc_feet(parse(render_html([SENTENCE], TYPES)))
    work_for, live_in = feet[0], feet[2]  # both leave "John Smith" to the right
    assert work_for[0] != live_in[0]
    # The longer arc (to Boston) is drawn higher, so it leaves further left: no crossing.
    assert live_in[0] < work_for[0]


def test_line_breaks_avoid_cutting_a_short_relation() -> None:
    tokens = tuple(f"w{i:03d}" for i in range(200))
    per_line = int(MAX_LINE_WIDTH // (4 * render.CHAR_WIDTH + render.WORD_GAP))
    head, tail = per_line - 3, per_line + 1  # a greedy break would fall between them
    doc = Document(
        tokens,
        (Entity("Peop", head, head + 1), Entity("Loc", tail, tail + 1)),
        (Relation("Live_In", 0, 1),),
    )
    root = parse(render_html([doc], TYPES))
    assert drawn_relations(root) == [0]
    assert tabled_relations(root) == []


def test_long_document_wraps_and_every_relation_is_shown() -> None:
    tokens = tuple(f"word{i}" for i in range(300))
    entities = tuple(Entity(TYPES.entity_names[i % 4], i, i + 2) for i in range(0, 300, 7))
    relations = tuple(
        Relation(TYPES.relation_names[k % 4], k, (k * 5 + 1) % len(entities), score=0.5)
        for k in range(len(entities))
        if (k * 5 + 1) % len(entities) != k
    ) + (Relation("Live_In", 0, len(entities) - 1),)
    doc = Document(tokens, entities, relations)
    root = parse(render_html([doc], TYPES))
    svgs = list(root.iter("svg"))
    assert len(svgs) > 3
    assert max(float(s.get("width", "0")) for s in svgs) <= MAX_LINE_WIDTH + 100
    drawn, tabled = drawn_relations(root), tabled_relations(root)
    assert sorted(drawn + tabled) == list(range(len(relations)))
    assert drawn and tabled
    assert len(relations) - 1 in tabled  # first entity to last: across lines
    assert sorted(int(g.get("data-entity", "-1")) for g in with_class(root, "g", "entity")) == list(
        range(len(entities))
    )
    words = [el.text for el in with_class(root, "text", "tok")]
    assert words == list(tokens)


def test_line_breaks_avoid_cutting_entities() -> None:
    tokens = tuple(f"token{i:03d}" for i in range(200))
    entities = tuple(Entity("Org", i, i + 3) for i in range(0, 198, 4))
    root = parse(render_html([Document(tokens, entities)], TYPES))
    # No entity is split: each is drawn exactly once and never as a continuation.
    groups = with_class(root, "g", "entity")
    assert len(groups) == len(entities)
    assert not any((el.text or "").startswith("…") for el in with_class(root, "text", "elabel"))


def test_entity_across_lines_is_drawn_on_each_line() -> None:
    tokens = tuple(f"w{i}" for i in range(400))
    doc = Document(tokens, (Entity("Other", 10, 390),))
    root = parse(render_html([doc], TYPES))
    labels = [el.text for el in with_class(root, "text", "elabel")]
    assert labels[0] == "Other"
    assert len(labels) > 2 and all(label == "… Other" for label in labels[1:])


def test_bad_indices_are_reported_not_raised() -> None:
    doc = Document(
        tokens=("a", "b"),
        entities=(Entity("Loc", 0, 1), Entity("Peop", 1, 5)),
        relations=(Relation("Live_In", 0, 7), Relation("Live_In", 0, 0), Relation("Near", 0, 1)),
    )
    root = parse(render_html([doc], TYPES))
    assert sorted(tabled_relations(root)) == [0, 1, 2]
    assert "Peop [1, 5)" in "".join(with_class(root, "p", "note")[0].itertext())


# --- documents --------------------------------------------------------------------------------


def test_empty_document() -> None:
    root = parse(render_html([Document((), orig_id=3), SENTENCE], TYPES))
    first, second = sections(root)
    assert "(empty)" in "".join(first.itertext())
    assert first.find(".//svg") is None
    assert "(empty)" not in "".join(second.itertext())


def test_no_documents() -> None:
    root = parse(render_html([], TYPES))
    assert sections(root) == []
    assert "0 documents" in "".join(root.itertext())


def test_document_header_has_index_id_and_counts() -> None:
    root = parse(render_html([Document(("x",)), SENTENCE], TYPES))
    headers = ["".join(s.find("p").itertext()) for s in sections(root)]  # type: ignore[union-attr]
    assert headers[0].startswith("#0") and "id" not in headers[0]
    assert headers[1].startswith("#1 · id s-1")
    assert "3 entities" in headers[1] and "3 relations" in headers[1]


def test_output_is_deterministic() -> None:
    docs = [SENTENCE, Document(tuple("abc"), (Entity("Zed", 0, 2), Entity("Alien", 1, 3)))]
    copies = [Document.from_dict(d.to_dict()) for d in docs]
    assert render_html(docs, TYPES) == render_html(copies, TYPES)


def test_docstring_examples() -> None:
    result = doctest.testmod(render, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0
