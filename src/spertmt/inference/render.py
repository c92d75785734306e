"""Render predicted documents as one self-contained HTML page (inline CSS and SVG, no JS).

Each document is drawn as one inline SVG per line of words, in a monospace font so that word
positions can be computed here in Python:

- **Entities** are boxes around their words, tinted with the colour of their type, with a
  solid strip under the words that carries the type label. Nested or overlapping entities get
  stacked *levels*: the inner (shorter) entity is level 0, an entity that overlaps it level 1,
  and so on; a higher level's box is a little larger on every side and its label strip sits
  below the lower levels' strips, so no entity ever hides another.
- **Relations** are arcs above the words, from the head entity to the tail entity, with an
  arrowhead on the tail (on both ends for symmetric types) and the type as a label on the arc.
  Arcs are stacked like displaCy's dependency view: shorter arcs lower, and two arcs (or their
  labels) that overlap horizontally never share a height.
- **Long documents** wrap onto several lines of at most :data:`MAX_LINE_WIDTH` pixels. Breaks
  avoid cutting entities and relations where possible; a relation whose entities still end up
  on different lines is listed in a small table under the document, so every relation is
  visible either as an arc or as a table row.

Scores are shown in tooltips (SVG ``<title>`` elements). All text is escaped, and the page is
also well-formed XML (every element closed, only XML-safe character references).
"""

from __future__ import annotations

import colorsys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from spertmt.html_page import escape as _esc
from spertmt.html_page import page
from spertmt.schema import Document, Entity, Relation, TypeSchema

__all__ = ["MAX_LINE_WIDTH", "render_html"]

# --- Text metrics (monospace font: every character cell has the same advance) ------------------
FONT_SIZE = 14
"""Font size of the words, in px."""
CHAR_WIDTH = 0.6 * FONT_SIZE
"""Advance of one character cell of the monospace font (≈0.6 em for common monospace fonts)."""
LABEL_FONT_SIZE = 10
"""Font size of entity and relation labels, in px."""
LABEL_CHAR_WIDTH = 0.6 * LABEL_FONT_SIZE
"""Advance of one character cell in a label."""
MAX_TOKEN_CELLS = 40
"""Longer words are shortened with an ellipsis (the full word is in the tooltip)."""
MAX_LABEL_CELLS = 24
"""Longer type labels are shortened with an ellipsis."""

# --- Horizontal layout -------------------------------------------------------------------------
MAX_LINE_WIDTH = 1200
"""Maximum width of the words of one line, in px; longer documents wrap."""
LINE_MIN_FILL = 0.5
"""A line break may move back to this fraction of the line to avoid cutting a relation."""
SVG_MARGIN_X = 8
"""Blank space left and right of a line's outermost boxes."""
WORD_GAP = 12
"""Minimum space between two words."""
BOX_PAD_X = 4
"""Space between a level-0 entity box and its words."""
LEVEL_PAD_X = 3
"""Extra horizontal padding of the box per entity level (keeps nested boxes apart)."""
BOX_SEPARATION = 4
"""Minimum space between the boxes of two neighbouring entities."""
MIN_TOKEN_WIDTH = CHAR_WIDTH
"""Width given to an empty-string token."""
STRIP_TEXT_PAD = 4
"""Space left and right of the type label inside its strip."""

# --- Vertical layout ---------------------------------------------------------------------------
SVG_MARGIN_TOP = 6
"""Blank space above the highest arc label."""
SVG_MARGIN_BOTTOM = 6
"""Blank space below the lowest label strip."""
ROW_HEIGHT = 22
"""Height of the row of words."""
BOX_PAD_Y = 3
"""Space between a level-0 entity box and the top of its words."""
LEVEL_PAD_Y = 5
"""Extra padding above the box per entity level (an arc to an outer entity stops clearly above
its inner entities)."""
STRIP_HEIGHT = 14
"""Height of the coloured strip carrying an entity's type label."""
STRIP_GAP = 3
"""Space between the label strips of two nested levels."""
BOX_RADIUS = 4
"""Radius of the rounded corners of an entity box."""

# --- Arcs --------------------------------------------------------------------------------------
ARC_LEVEL_HEIGHT = 22
"""Vertical distance between two stacked arc levels."""
ARC_FIRST_RISE = 16
"""Height of the lowest arc level above the highest entity box."""
ARC_CORNER_RADIUS = 6
"""Radius of the rounded corners of an arc."""
ARC_SEPARATION = 6
"""Arcs (with their labels) closer than this horizontally go to different levels."""
ANCHOR_MAX_STEP = 10
"""Maximum distance between the feet of two arcs on the same entity."""
ARROW_LENGTH = 7
"""Length of an arrowhead."""
ARROW_WIDTH = 7
"""Width of an arrowhead's base."""
LABEL_HEIGHT = 14
"""Height of the white background behind an arc label."""
LABEL_PAD_X = 3
"""Space left and right of an arc label's text."""

# --- Colours -----------------------------------------------------------------------------------
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#b07aa1",
    "#76b7b2",
    "#edc948",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
"""Colours of the first entity types (Tableau 10: distinguishable, colour-blind friendly)."""
GOLDEN_ANGLE = 137.508
"""Hue step, in degrees, for the colours of types beyond :data:`PALETTE`."""
EXTRA_LIGHTNESS = 0.45
"""HLS lightness of the colours beyond :data:`PALETTE`."""
EXTRA_SATURATION = 0.55
"""HLS saturation of the colours beyond :data:`PALETTE`."""
BOX_FILL_OPACITY = 0.12
"""Opacity of the tint inside an entity box."""
DARK_TEXT = "#1f2328"
"""Text colour on light backgrounds."""
LIGHT_TEXT = "#ffffff"
"""Text colour on dark backgrounds."""

_CSS = """
body{margin:24px;background:#f6f8fa;color:#1f2328;
font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;font-size:14px}
h1{font-size:20px;margin:0 0 4px}
.summary{color:#57606a;margin:0 0 12px}
.legend{display:flex;flex-wrap:wrap;gap:6px 14px;align-items:center;margin:0 0 16px;
padding:8px 12px;background:#fff;border:1px solid #d0d7de;border-radius:6px}
.legend b{font-weight:600;margin-right:2px}
.chip{display:inline-block;padding:1px 7px;border-radius:4px;font-size:12px;font-weight:600}
.rel{font-size:12px;color:#57606a}
.doc{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:10px 14px;
margin:0 0 14px;overflow-x:auto}
.doc-header{margin:0 0 6px;font-size:13px;color:#57606a}
.doc-header b{color:#1f2328;font-size:14px}
.empty{color:#57606a;font-style:italic;margin:4px 0}
svg.line{display:block}
svg text{font-family:"DejaVu Sans Mono",Menlo,Consolas,"Liberation Mono",monospace}
.tok{font-size:14px;fill:#1f2328;white-space:pre;unicode-bidi:isolate}
.elabel{font-size:10px;font-weight:700}
.arc path{fill:none;stroke:#57606a;stroke-width:1.4}
.arc path.arrow{fill:#57606a;stroke:none}
.rlabel rect{fill:#fff;fill-opacity:0.92}
.rlabel text{font-size:10px;font-weight:600;fill:#24292f}
table.relations{border-collapse:collapse;margin:8px 0 2px;font-size:12px}
table.relations caption{text-align:left;color:#57606a;padding:0 0 3px}
table.relations th,table.relations td{border:1px solid #d0d7de;padding:2px 8px;text-align:left;
unicode-bidi:isolate}
table.relations th{background:#f6f8fa;font-weight:600}
.note{color:#9a6700;font-size:12px;margin:4px 0}
"""


# ================================================================================================
# Public API
# ================================================================================================


def render_html(
    documents: Sequence[Document], types: TypeSchema, *, title: str = "spertmt predictions"
) -> str:
    """Render documents with their entities and relations as one self-contained HTML page.

    The page needs no JavaScript, fonts or network: CSS and SVG are inline. Entities are
    coloured boxes (colour by the type's index in ``types.entity_names``; nested and overlapping
    entities are stacked), relations are labelled arcs from head to tail (arrows at both ends
    for symmetric types), scores are tooltips. Documents wider than :data:`MAX_LINE_WIDTH` wrap
    onto several lines; a relation between entities on different lines is listed in a table
    under the document. The output is deterministic.

    Args:
        documents: Documents to show, in order (gold or predicted; ``score`` may be ``None``).
        types: The type schema; fixes the entity colours and which relations are symmetric.
            Types missing from it are still drawn (in extra colours, marked in the legend).
        title: Page title, shown in the browser tab and as the heading.

    Returns:
        The HTML page as a string (UTF-8 ready; it is also well-formed XML).

    Example:
        >>> from spertmt.schema import Document, Entity, EntityType, Relation, TypeSchema
        >>> from spertmt.schema import RelationType
        >>> types = TypeSchema((EntityType("Peop", "P", "People"), EntityType("Loc", "L", "Loc")),
        ...                    (RelationType("Live_In", "LI", "Live in"),))
        >>> doc = Document(("John", "lives", "in", "Paris"),
        ...                (Entity("Peop", 0, 1, score=0.98), Entity("Loc", 3, 4)),
        ...                (Relation("Live_In", 0, 1, score=0.87),))
        >>> page = render_html([doc], types)
        >>> page.startswith("<!DOCTYPE html>") and "Live_In" in page
        True
    """
    colours = _type_colours(documents, types)
    symmetric = types.symmetric_relations
    n_entities = sum(len(doc.entities) for doc in documents)
    n_relations = sum(len(doc.relations) for doc in documents)
    summary = (
        f"{_plural(len(documents), 'document')} · {_plural(n_entities, 'entity')} · "
        f"{_plural(n_relations, 'relation')}"
    )
    parts = [
        f'<p class="summary">{_esc(summary)}</p>',
        _legend_html(types, colours),
    ]
    parts.extend(
        _document_html(index, doc, colours, symmetric) for index, doc in enumerate(documents)
    )
    return page(title, _CSS, parts)


# ================================================================================================
# Text helpers
# ================================================================================================


def _cells(text: str) -> int:
    """Number of monospace cells ``text`` takes: wide (CJK, emoji) count 2, combining 0."""
    cells = 0
    for ch in text:
        if unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        cells += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return cells


def _shorten(text: str, max_cells: int) -> str:
    """Cut ``text`` to at most ``max_cells`` cells, ending with an ellipsis when cut."""
    if _cells(text) <= max_cells:
        return text
    out = ""
    for ch in text:
        if _cells(out + ch) > max_cells - 1:
            break
        out += ch
    return out + "…"


def _num(value: float) -> str:
    """Format a coordinate deterministically with at most one decimal."""
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _plural(count: int, noun: str) -> str:
    """``"1 entity"``, ``"2 entities"``, ``"3 relations"``."""
    if count == 1:
        return f"1 {noun}"
    return f"{count} {noun[:-1]}ies" if noun.endswith("y") else f"{count} {noun}s"


def _score_text(score: float | None) -> str:
    """Tooltip fragment for a score (empty for gold data)."""
    return "" if score is None else f" · score {score:.3f}"


# ================================================================================================
# Colours and legend
# ================================================================================================


def _type_colour(index: int) -> str:
    """Colour of the entity type at ``index``: the palette, then golden-angle hues."""
    if index < len(PALETTE):
        return PALETTE[index]
    hue = ((index - len(PALETTE)) * GOLDEN_ANGLE) % 360 / 360
    red, green, blue = colorsys.hls_to_rgb(hue, EXTRA_LIGHTNESS, EXTRA_SATURATION)
    return f"#{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}"


def _luminance(colour: str) -> float:
    """Relative luminance (WCAG 2) of a ``#rrggbb`` colour."""

    def channel(hex_pair: str) -> float:
        value = int(hex_pair, 16) / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def _contrast(first: str, second: str) -> float:
    """WCAG contrast ratio of two ``#rrggbb`` colours (1 to 21)."""
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _text_colour(background: str) -> str:
    """Dark or light text, whichever contrasts more with ``background``."""
    if _contrast(LIGHT_TEXT, background) >= _contrast(DARK_TEXT, background):
        return LIGHT_TEXT
    return DARK_TEXT


def _type_colours(documents: Sequence[Document], types: TypeSchema) -> dict[str, str]:
    """Colour of every entity type: schema types by index, then unknown types sorted by name."""
    names = list(types.entity_names)
    known = set(names)
    names += sorted({e.type for doc in documents for e in doc.entities} - known)
    return {name: _type_colour(index) for index, name in enumerate(names)}


def _chip(name: str, colour: str, tooltip: str) -> str:
    """A coloured label as an HTML ``<span>``."""
    return (
        f'<span class="chip" style="background:{colour};color:{_text_colour(colour)}" '
        f'title="{_esc(tooltip)}">{_esc(name)}</span>'
    )


def _legend_html(types: TypeSchema, colours: dict[str, str]) -> str:
    """The legend: every entity type with its colour, then the relation types."""
    verbose = {t.name: t.verbose for t in types.entity_types}
    chips = [
        _chip(name, colour, verbose.get(name, f"{name} (not in the type schema)"))
        for name, colour in colours.items()
    ]
    relations = [
        f'<span class="rel" title="{_esc(t.verbose)}">{_esc(t.name)} '
        f"{'↔' if t.symmetric else '→'}</span>"
        for t in types.relation_types
    ]
    parts = ['<div class="legend">', "<b>Entities</b>", *chips]
    if relations:
        parts += ["<b>Relations</b>", *relations]
    parts.append("</div>")
    return "\n".join(parts)


# ================================================================================================
# Document layout (independent of line breaks)
# ================================================================================================


@dataclass(frozen=True)
class _Layout:
    """Word widths, gaps and entity levels of one document.

    Attributes:
        shown: Displayed form of each token (shortened when very long).
        widths: Width of each token's slot in px.
        gaps: ``gaps[i]`` is the space between token ``i`` and token ``i + 1``.
        levels: Stacking level of each entity; ``None`` for an entity with an invalid span.
        labels: Displayed type label of each entity.
        offsets: ``offsets[i]`` is where token ``i`` would start if all tokens were on one line.
    """

    shown: tuple[str, ...]
    widths: tuple[float, ...]
    gaps: tuple[float, ...]
    levels: tuple[int | None, ...]
    labels: tuple[str, ...]
    offsets: tuple[float, ...]

    def width(self, start: int, end: int) -> float:
        """Width of tokens ``start..end-1`` with the gaps between them (``end > start``)."""
        return self.offsets[end - 1] + self.widths[end - 1] - self.offsets[start]


def _valid(entity: Entity, n_tokens: int) -> bool:
    """Whether the entity's span lies inside the document and is not empty."""
    return 0 <= entity.start < entity.end <= n_tokens


def _pad_x(level: int) -> float:
    """Horizontal padding between an entity's words and its box."""
    return BOX_PAD_X + level * LEVEL_PAD_X


def _entity_levels(doc: Document) -> tuple[int | None, ...]:
    """Stack overlapping entities: shorter spans lower; overlapping spans never share a level."""
    n_tokens = len(doc.tokens)
    levels: list[int | None] = [None] * len(doc.entities)
    order = sorted(
        (i for i, e in enumerate(doc.entities) if _valid(e, n_tokens)),
        key=lambda i: (doc.entities[i].width, doc.entities[i].start, i),
    )
    placed: list[int] = []
    for i in order:
        entity = doc.entities[i]
        below = [
            level
            for j in placed
            if (level := levels[j]) is not None
            and doc.entities[j].start < entity.end
            and entity.start < doc.entities[j].end
        ]
        levels[i] = max(below) + 1 if below else 0
        placed.append(i)
    return tuple(levels)


def _layout(doc: Document) -> _Layout:
    """Compute slot widths (wide enough for every label), gaps and entity levels."""
    n_tokens = len(doc.tokens)
    shown = tuple(_shorten(token, MAX_TOKEN_CELLS) for token in doc.tokens)
    widths = [max(_cells(token) * CHAR_WIDTH, MIN_TOKEN_WIDTH) for token in shown]
    levels = _entity_levels(doc)
    labels = tuple(_shorten(e.type, MAX_LABEL_CELLS) for e in doc.entities)

    # A gap must hold the padding of the boxes that end left of it and start right of it.
    right_pad = [0.0] * n_tokens
    left_pad = [0.0] * n_tokens
    for entity, level in zip(doc.entities, levels, strict=True):
        if level is not None:
            right_pad[entity.end - 1] = max(right_pad[entity.end - 1], _pad_x(level))
            left_pad[entity.start] = max(left_pad[entity.start], _pad_x(level))
    gaps = tuple(
        max(WORD_GAP, right_pad[i] + left_pad[i + 1] + BOX_SEPARATION) for i in range(n_tokens - 1)
    )

    # Widen the words of an entity whose type label is wider than the entity (inner first).
    order = sorted(
        (i for i, level in enumerate(levels) if level is not None),
        key=lambda i: (doc.entities[i].width, doc.entities[i].start, i),
    )
    for i in order:
        entity, level = doc.entities[i], levels[i]
        assert level is not None
        needed = _cells(labels[i]) * LABEL_CHAR_WIDTH + 2 * STRIP_TEXT_PAD - 2 * _pad_x(level)
        have = sum(widths[entity.start : entity.end]) + sum(gaps[entity.start : entity.end - 1])
        if needed > have:
            extra = (needed - have) / entity.width
            for t in range(entity.start, entity.end):
                widths[t] += extra
    offsets = [0.0] * n_tokens
    for t in range(1, n_tokens):
        offsets[t] = offsets[t - 1] + widths[t - 1] + gaps[t - 1]
    return _Layout(shown, tuple(widths), gaps, levels, labels, tuple(offsets))


def _relation_extent(doc: Document, relation: Relation) -> tuple[int, int] | None:
    """Token range covered by a relation's two entities, or ``None`` when it cannot be drawn."""
    n_entities, n_tokens = len(doc.entities), len(doc.tokens)
    if not (0 <= relation.head < n_entities and 0 <= relation.tail < n_entities):
        return None
    if relation.head == relation.tail:
        return None
    head, tail = doc.entities[relation.head], doc.entities[relation.tail]
    if not (_valid(head, n_tokens) and _valid(tail, n_tokens)):
        return None
    return min(head.start, tail.start), max(head.end, tail.end)


def _line_breaks(doc: Document, layout: _Layout) -> list[tuple[int, int]]:
    """Split the tokens into lines no wider than :data:`MAX_LINE_WIDTH` (one token at least).

    Among the break points that keep a line at least :data:`LINE_MIN_FILL` full, the one that
    cuts the fewest entities, then the fewest relations that could fit on one line, then the
    latest one is chosen.
    """
    n_tokens = len(doc.tokens)
    entity_spans = [
        (e.start, e.end)
        for e, level in zip(doc.entities, layout.levels, strict=True)
        if level is not None
    ]
    # Relations wider than a line are cut wherever the break goes: they must not pull it.
    relation_spans = [
        extent
        for r in doc.relations
        if (extent := _relation_extent(doc, r)) is not None
        and layout.width(*extent) <= MAX_LINE_WIDTH
    ]
    lines: list[tuple[int, int]] = []
    start = 0
    while start < n_tokens:
        end = start + 1
        while end < n_tokens and layout.width(start, end + 1) <= MAX_LINE_WIDTH:
            end += 1
        if end < n_tokens:
            candidates = [
                b
                for b in range(start + 1, end + 1)
                if layout.width(start, b) >= LINE_MIN_FILL * MAX_LINE_WIDTH
            ] or [end]
            end = min(
                candidates,
                key=lambda b: (
                    sum(s < b < e for s, e in entity_spans),
                    sum(start <= s < b < e for s, e in relation_spans),
                    -b,
                ),
            )
        lines.append((start, end))
        start = end
    return lines


# ================================================================================================
# One line of words as SVG
# ================================================================================================


@dataclass(frozen=True)
class _Piece:
    """The part of an entity that lies on one line.

    Attributes:
        entity: Index of the entity in the document.
        x0: Left edge of its first word on this line.
        x1: Right edge of its last word on this line.
        level: Stacking level.
    """

    entity: int
    x0: float
    x1: float
    level: int

    @property
    def centre(self) -> float:
        """Horizontal centre of the words."""
        return (self.x0 + self.x1) / 2


@dataclass(frozen=True)
class _Arc:
    """A relation drawn on one line, before its level is known.

    Attributes:
        relation: Index of the relation in the document.
        x_head: Where the arc leaves the head entity.
        x_tail: Where the arc reaches the tail entity.
        label: Displayed relation type.
        label_x: Centre of the label (kept inside the line).
        lo: Left end of what the arc and its label cover.
        hi: Right end of what the arc and its label cover.
    """

    relation: int
    x_head: float
    x_tail: float
    label: str
    label_x: float
    lo: float
    hi: float


def _box_top(row_top: float, level: int) -> float:
    """Top edge of an entity box at ``level``."""
    return row_top - BOX_PAD_Y - level * LEVEL_PAD_Y


def _box_bottom(row_top: float, level: int) -> float:
    """Bottom edge of an entity box (and of its label strip) at ``level``."""
    return row_top + ROW_HEIGHT + (level + 1) * STRIP_HEIGHT + level * STRIP_GAP


def _arc_levels(arcs: Sequence[_Arc]) -> list[int]:
    """Stack arcs: shorter arcs lower; arcs whose extents overlap never share a level (1-based)."""
    levels = [0] * len(arcs)
    order = sorted(
        range(len(arcs)),
        key=lambda i: (abs(arcs[i].x_tail - arcs[i].x_head), arcs[i].lo, arcs[i].relation),
    )
    placed: list[int] = []
    for i in order:
        below = [
            levels[j]
            for j in placed
            if arcs[j].lo < arcs[i].hi + ARC_SEPARATION and arcs[i].lo < arcs[j].hi + ARC_SEPARATION
        ]
        levels[i] = max(below, default=0) + 1
        placed.append(i)
    return levels


def _anchors(
    pieces: dict[int, _Piece], ends: Sequence[tuple[int, int, int]]
) -> dict[tuple[int, int], float]:
    """Spread the feet of the arcs on each entity so that they do not share one point.

    Args:
        pieces: The entity pieces of the line, by entity index.
        ends: ``(entity, other_entity, key)`` for every arc end; ``key`` identifies the end.

    Returns:
        The x position of every arc end, by ``(entity, key)``. Ends are ordered so that arcs
        nest instead of crossing: arcs to entities on the left come first, nearest first (a
        longer arc, drawn higher, lands right of a shorter one), then arcs to entities on the
        right, farthest first.
    """
    by_entity: dict[int, list[tuple[int, float, int]]] = {}
    for entity, other, key in ends:
        offset = pieces[other].centre - pieces[entity].centre
        side = 0 if offset < 0 else 1
        by_entity.setdefault(entity, []).append((side, abs(offset) * (1 - 2 * side), key))
    positions: dict[tuple[int, int], float] = {}
    for entity, items in by_entity.items():
        piece = pieces[entity]
        items.sort()
        step = 0.0
        if len(items) > 1:
            step = min(ANCHOR_MAX_STEP, (piece.x1 - piece.x0) / (len(items) - 1))
        for rank, (_, _, key) in enumerate(items):
            positions[(entity, key)] = piece.centre + (rank - (len(items) - 1) / 2) * step
    return positions


def _arc_path(arc: _Arc, y: float, y_head: float, y_tail: float) -> str:
    """SVG path data: up from the head (at ``y_head``), across at ``y``, down to ``y_tail``."""
    direction = 1 if arc.x_tail >= arc.x_head else -1
    radius = min(ARC_CORNER_RADIUS, abs(arc.x_tail - arc.x_head) / 2)
    x0, x1 = arc.x_head, arc.x_tail
    return (
        f"M{_num(x0)} {_num(y_head)}V{_num(y + radius)}"
        f"Q{_num(x0)} {_num(y)} {_num(x0 + direction * radius)} {_num(y)}"
        f"H{_num(x1 - direction * radius)}"
        f"Q{_num(x1)} {_num(y)} {_num(x1)} {_num(y + radius)}V{_num(y_tail)}"
    )


def _arrow(x: float, y: float) -> str:
    """SVG path data of a downward arrowhead whose tip is at ``(x, y)``."""
    half = ARROW_WIDTH / 2
    return (
        f"M{_num(x)} {_num(y)}L{_num(x - half)} {_num(y - ARROW_LENGTH)}"
        f"L{_num(x + half)} {_num(y - ARROW_LENGTH)}Z"
    )


def _entity_tooltip(doc: Document, index: int) -> str:
    """Tooltip of an entity: type, words, span and score."""
    entity = doc.entities[index]
    words = " ".join(doc.tokens[entity.start : entity.end])
    return (
        f"{entity.type}: {words} [{entity.start}, {entity.end}) · entity #{index}"
        f"{_score_text(entity.score)}"
    )


def _relation_tooltip(doc: Document, index: int, symmetric: frozenset[str]) -> str:
    """Tooltip of a relation: head, type and tail words, and score."""
    relation = doc.relations[index]
    arrow = "↔" if relation.type in symmetric else "→"

    def words(entity_index: int) -> str:
        if 0 <= entity_index < len(doc.entities):
            entity = doc.entities[entity_index]
            return " ".join(doc.tokens[entity.start : entity.end]) or f"entity #{entity_index}"
        return f"entity #{entity_index}"

    return (
        f"{relation.type}: {words(relation.head)} {arrow} {words(relation.tail)}"
        f"{_score_text(relation.score)}"
    )


def _line_svg(
    doc: Document,
    layout: _Layout,
    line: tuple[int, int],
    relations: Sequence[int],
    colours: dict[str, str],
    symmetric: frozenset[str],
) -> str:
    """Draw tokens ``line[0]..line[1]-1`` with their entities and the given relations."""
    start, end = line
    margin = SVG_MARGIN_X + max((_pad_x(lv) for lv in layout.levels if lv is not None), default=0)
    xs: list[float] = []
    x = margin
    for t in range(start, end):
        xs.append(x)
        x += layout.widths[t] + (layout.gaps[t] if t < end - 1 else 0)
    width = x + margin

    pieces: dict[int, _Piece] = {}
    for i, (entity, level) in enumerate(zip(doc.entities, layout.levels, strict=True)):
        if level is None or entity.end <= start or entity.start >= end:
            continue
        first, last = max(entity.start, start), min(entity.end, end) - 1
        pieces[i] = _Piece(i, xs[first - start], xs[last - start] + layout.widths[last], level)
    top_level = max((p.level for p in pieces.values()), default=0)

    # Arcs: feet, extents and levels first; that fixes how high the row of words sits.
    ends: list[tuple[int, int, int]] = []
    for r in relations:
        head, tail = doc.relations[r].head, doc.relations[r].tail
        ends += [(head, tail, 2 * r), (tail, head, 2 * r + 1)]
    feet = _anchors(pieces, ends)
    draft: list[_Arc] = []
    for r in relations:
        relation = doc.relations[r]
        x_head, x_tail = feet[(relation.head, 2 * r)], feet[(relation.tail, 2 * r + 1)]
        label = _shorten(relation.type, MAX_LABEL_CELLS)
        half_label = (_cells(label) * LABEL_CHAR_WIDTH) / 2 + LABEL_PAD_X
        label_x = min(max((x_head + x_tail) / 2, half_label), width - half_label)
        draft.append(
            _Arc(
                relation=r,
                x_head=x_head,
                x_tail=x_tail,
                label=label,
                label_x=label_x,
                lo=min(x_head, x_tail, label_x - half_label),
                hi=max(x_head, x_tail, label_x + half_label),
            )
        )
    arc_levels = _arc_levels(draft)
    n_arc_levels = max(arc_levels, default=0)
    lowest_arc_y = SVG_MARGIN_TOP + LABEL_HEIGHT / 2 + (n_arc_levels - 1) * ARC_LEVEL_HEIGHT
    if n_arc_levels:
        row_top = lowest_arc_y + ARC_FIRST_RISE + top_level * LEVEL_PAD_Y + BOX_PAD_Y
    else:
        row_top = SVG_MARGIN_TOP + top_level * LEVEL_PAD_Y + BOX_PAD_Y
    bottom = _box_bottom(row_top, top_level) if pieces else row_top + ROW_HEIGHT
    height = bottom + SVG_MARGIN_BOTTOM

    parts = [
        f'<svg class="line" width="{_num(width)}" height="{_num(height)}" '
        f'viewBox="0 0 {_num(width)} {_num(height)}" role="img" '
        f'aria-label="{_esc(" ".join(doc.tokens[start:end]))}">'
    ]
    # Entities: outer (higher) levels first so inner boxes are drawn on top of them.
    for piece in sorted(pieces.values(), key=lambda p: (-p.level, p.x0, p.entity)):
        parts.append(_entity_svg(doc, layout, piece, row_top, colours, start))
    for t in range(start, end):
        token = doc.tokens[t]
        shown = layout.shown[t]
        tooltip = f"<title>{_esc(token)}</title>" if shown != token else ""
        parts.append(
            f'<text class="tok" x="{_num(xs[t - start] + layout.widths[t] / 2)}" '
            f'y="{_num(row_top + ROW_HEIGHT / 2)}" text-anchor="middle" '
            f'dominant-baseline="central">{tooltip}{_esc(shown)}</text>'
        )
    arcs = []
    for arc, level in zip(draft, arc_levels, strict=True):
        relation = doc.relations[arc.relation]
        y_head = _box_top(row_top, pieces[relation.head].level)
        y_tail = _box_top(row_top, pieces[relation.tail].level)
        arcs.append((arc, level, y_head, y_tail))
    # Paths first, then every label on top of all paths (a label's white background hides
    # any arc that passes behind it).
    for arc, level, y_head, y_tail in arcs:
        y = lowest_arc_y - (level - 1) * ARC_LEVEL_HEIGHT
        tooltip = _esc(_relation_tooltip(doc, arc.relation, symmetric))
        arrows = [_arrow(arc.x_tail, y_tail)]
        if doc.relations[arc.relation].type in symmetric:
            arrows.append(_arrow(arc.x_head, y_head))
        parts.append(
            f'<g class="arc" data-relation="{arc.relation}"><title>{tooltip}</title>'
            f'<path d="{_arc_path(arc, y, y_head, y_tail)}"/>'
            + "".join(f'<path class="arrow" d="{d}"/>' for d in arrows)
            + "</g>"
        )
    for arc, level, _, _ in arcs:
        y = lowest_arc_y - (level - 1) * ARC_LEVEL_HEIGHT
        label_width = _cells(arc.label) * LABEL_CHAR_WIDTH + 2 * LABEL_PAD_X
        tooltip = _esc(_relation_tooltip(doc, arc.relation, symmetric))
        parts.append(
            f'<g class="rlabel" data-relation="{arc.relation}"><title>{tooltip}</title>'
            f'<rect x="{_num(arc.label_x - label_width / 2)}" y="{_num(y - LABEL_HEIGHT / 2)}" '
            f'width="{_num(label_width)}" height="{LABEL_HEIGHT}" rx="3"/>'
            f'<text x="{_num(arc.label_x)}" y="{_num(y)}" text-anchor="middle" '
            f'dominant-baseline="central">{_esc(arc.label)}</text></g>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _strip_path(x: float, top: float, width: float) -> str:
    """SVG path data of a label strip: square top corners, bottom corners like the box's."""
    bottom = top + STRIP_HEIGHT
    radius = BOX_RADIUS
    return (
        f"M{_num(x)} {_num(top)}H{_num(x + width)}V{_num(bottom - radius)}"
        f"Q{_num(x + width)} {_num(bottom)} {_num(x + width - radius)} {_num(bottom)}"
        f"H{_num(x + radius)}Q{_num(x)} {_num(bottom)} {_num(x)} {_num(bottom - radius)}Z"
    )


def _entity_svg(
    doc: Document,
    layout: _Layout,
    piece: _Piece,
    row_top: float,
    colours: dict[str, str],
    line_start: int,
) -> str:
    """One entity box with its label strip (marked "…" on the lines an entity continues on)."""
    entity = doc.entities[piece.entity]
    colour = colours[entity.type]
    pad = _pad_x(piece.level)
    x, width = piece.x0 - pad, piece.x1 - piece.x0 + 2 * pad
    top, bottom = _box_top(row_top, piece.level), _box_bottom(row_top, piece.level)
    strip_top = bottom - STRIP_HEIGHT
    label = layout.labels[piece.entity]
    if entity.start < line_start:
        label = f"… {label}"  # continued from the previous line
    return (
        f'<g class="entity" data-entity="{piece.entity}">'
        f"<title>{_esc(_entity_tooltip(doc, piece.entity))}</title>"
        f'<rect x="{_num(x)}" y="{_num(top)}" width="{_num(width)}" height="{_num(bottom - top)}" '
        f'rx="{BOX_RADIUS}" fill="{colour}" fill-opacity="{BOX_FILL_OPACITY}" stroke="{colour}" '
        f'stroke-width="1.5"/>'
        f'<path d="{_strip_path(x, strip_top, width)}" fill="{colour}"/>'
        f'<text class="elabel" x="{_num(x + STRIP_TEXT_PAD)}" '
        f'y="{_num(strip_top + STRIP_HEIGHT / 2)}" dominant-baseline="central" '
        f'fill="{_text_colour(colour)}">{_esc(label)}</text></g>'
    )


# ================================================================================================
# One document as HTML
# ================================================================================================


def _entity_words(doc: Document, index: int) -> str:
    """``"Paris [Loc]"`` for an entity, or ``"#7 (missing)"`` for a bad index."""
    if not 0 <= index < len(doc.entities):
        return f"#{index} (no such entity)"
    entity = doc.entities[index]
    words = (
        " ".join(doc.tokens[entity.start : entity.end]) if _valid(entity, len(doc.tokens)) else ""
    )
    return f"{words or '?'} [{entity.type}]"


def _relation_table(
    doc: Document, rows: Sequence[tuple[int, str]], symmetric: frozenset[str]
) -> str:
    """A table of the relations not drawn as arcs, each with the reason."""
    parts = [
        '<table class="relations">',
        "<caption>Relations not drawn as arcs</caption>",
        "<tr><th>#</th><th>Head</th><th>Relation</th><th>Tail</th><th>Score</th><th>Why</th></tr>",
    ]
    for r, reason in rows:
        relation = doc.relations[r]
        arrow = "↔" if relation.type in symmetric else "→"
        score = "" if relation.score is None else f"{relation.score:.3f}"
        parts.append(
            f'<tr data-relation="{r}"><td>{r}</td><td>{_esc(_entity_words(doc, relation.head))}'
            f"</td><td>{_esc(relation.type)} {arrow}</td>"
            f"<td>{_esc(_entity_words(doc, relation.tail))}</td><td>{score}</td>"
            f"<td>{_esc(reason)}</td></tr>"
        )
    parts.append("</table>")
    return "\n".join(parts)


def _document_html(
    index: int, doc: Document, colours: dict[str, str], symmetric: frozenset[str]
) -> str:
    """A document's section: header, its lines of words, and the relations not drawn."""
    header = f"<b>#{index}</b>"
    if doc.orig_id is not None:
        header += f" · id {_esc(str(doc.orig_id))}"
    header += (
        f" · {_plural(len(doc.tokens), 'token')} · {_plural(len(doc.entities), 'entity')}"
        f" · {_plural(len(doc.relations), 'relation')}"
    )
    parts = [f'<section class="doc" id="doc-{index}">', f'<p class="doc-header">{header}</p>']
    layout = _layout(doc)
    lines = _line_breaks(doc, layout)
    if not lines:
        parts.append('<p class="empty">(empty)</p>')

    # Each relation goes on the first line that shows both of its entities.
    on_line: list[list[int]] = [[] for _ in lines]
    not_drawn: list[tuple[int, str]] = []
    for r, relation in enumerate(doc.relations):
        if not (0 <= relation.head < len(doc.entities) and 0 <= relation.tail < len(doc.entities)):
            not_drawn.append((r, "entity index out of range"))
            continue
        if relation.head == relation.tail:
            not_drawn.append((r, "head and tail are the same entity"))
            continue
        if _relation_extent(doc, relation) is None:
            not_drawn.append((r, "an entity span is outside the text"))
            continue
        head, tail = doc.entities[relation.head], doc.entities[relation.tail]
        for k, (start, end) in enumerate(lines):
            if head.start < end and head.end > start and tail.start < end and tail.end > start:
                on_line[k].append(r)
                break
        else:
            not_drawn.append((r, "entities on different lines"))

    parts.extend(
        _line_svg(doc, layout, line, rels, colours, symmetric)
        for line, rels in zip(lines, on_line, strict=True)
    )
    bad_entities = [i for i, level in enumerate(layout.levels) if level is None]
    if bad_entities:
        listed = ", ".join(
            f"#{i} {e.type} [{e.start}, {e.end})" for i in bad_entities for e in [doc.entities[i]]
        )
        parts.append(
            f'<p class="note">Not drawn (span outside the {len(doc.tokens)} tokens): '
            f"{_esc(listed)}</p>"
        )
    if not_drawn:
        parts.append(_relation_table(doc, not_drawn, symmetric))
    parts.append("</section>")
    return "\n".join(parts)
