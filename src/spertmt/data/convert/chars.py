"""Character-offset annotations (brat, doccano, Label Studio) to and from SpERT documents.

Raw-text formats annotate character spans of a text; SpERT annotates word spans. The bridge
keeps every character:

- **Tokens map back to the text.** The text is tokenised with spaCy's blank English
  tokenizer (:func:`spertmt.data.text.tokenize_text`), and a token is split further wherever
  an entity starts or ends inside it (``"Paris-based"`` with the entity ``Paris`` gives
  ``Paris``, ``-based``), so every entity is a whole number of words. Entities keep
  ``char_start``/``char_end``/``text`` into their document's ``text``.
- **Sentence splitting is explicit and reversible.** ``sentences="none"`` keeps each source
  document whole (its ``orig_id`` is the source id). ``"spacy"`` (the rule-based
  sentencizer) and ``"newline"`` (a break at every line break) give one document per
  sentence, with ``orig_id`` ``"<source id>#<k>"`` (``k`` from 0). A sentence's ``text`` runs
  from its first word to the next sentence's first word, so the texts of a source document's
  sentences, joined in order, are exactly the source text: :func:`spert_to_char_documents`
  joins them back. A boundary crossed by an entity, or between the two entities of a
  relation, is not used (counted in the report as ``sentence boundary kept closed``), so no
  annotation is ever cut.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeGuard

from spertmt.data.convert.report import ConversionReport
from spertmt.errors import DataError
from spertmt.schema import Document, Entity, Relation

__all__ = [
    "CharDocument",
    "CharEntity",
    "CharRelation",
    "SentenceMode",
    "char_documents_to_spert",
    "group_sentences",
    "spert_to_char_documents",
    "token_offsets_in",
]

SentenceMode = Literal["none", "spacy", "newline", "given"]
"""How documents are split: ``none`` (whole), ``spacy`` (sentencizer), ``newline``, ``given``
(DyGIE: its own sentence lists)."""

_SENTENCE_ID = re.compile(r"^(.*)#(\d+)$", re.DOTALL)


@dataclass(frozen=True)
class CharEntity:
    """An entity as a character span ``[start, end)`` of its document's text.

    Attributes:
        id: The source's id of the entity (``T3``), unique in its document.
        type: Entity type.
        start: First character (Python string index).
        end: One past the last character.
        where: Where it was read (``file, line 4``), for messages.
    """

    id: str
    type: str
    start: int
    end: int
    where: str = ""


@dataclass(frozen=True)
class CharRelation:
    """A relation between two entities of the same document, by entity id."""

    type: str
    head: str
    tail: str
    where: str = ""


@dataclass
class CharDocument:
    """A text with character-span annotations (one brat file pair, doccano line, LS task).

    Attributes:
        id: The source's document id (file stem, record id), unique in the input.
        text: The whole text.
        entities: Entities over ``text``.
        relations: Relations by entity id.
        skipped_ids: Ids of entities the reader left out (discontinuous ones, event
            triggers); a relation to one of them is left out too, and counted.
        where: Where the document was read, for messages.
        file: The file it was read from, for errors.
    """

    id: str
    text: str
    entities: list[CharEntity] = field(default_factory=list)
    relations: list[CharRelation] = field(default_factory=list)
    skipped_ids: set[str] = field(default_factory=set)
    where: str = ""
    file: str | None = None


# ------------------------------------------------------------------ characters → SpERT


def char_documents_to_spert(
    documents: Iterable[CharDocument],
    *,
    sentences: SentenceMode = "none",
    report: ConversionReport,
) -> list[Document]:
    """Turn character-span documents into SpERT documents (see the module docstring).

    Args:
        documents: The documents read from a raw-text format.
        sentences: ``"none"``, ``"spacy"`` or ``"newline"``.
        report: Counts what was written and what was left out (filled in place).

    Returns:
        The SpERT documents with ``text`` and entity character offsets.

    Raises:
        DataError: ``E133`` when an entity's span lies outside its text; ``E132`` when a
            relation names an entity id the document does not define.
    """
    if sentences not in ("none", "spacy", "newline"):
        raise DataError(
            f"--sentences {sentences} does not apply to a raw-text format; use none, spacy "
            "or newline",
            code="E130",
        )
    out: list[Document] = []
    for source in documents:
        out.extend(_convert_one(source, sentences, report))
    return out


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _tokenize(text: str, split: bool) -> tuple[list[tuple[int, int]], set[int]]:
    """Token character spans of ``text`` and the character starts of sentences after the first."""
    from spertmt.data.text import tokenize_text

    parts = tokenize_text(text, split_sentences=split)
    offsets = [span for part in parts for span in (part.token_offsets or ())]
    starts = {part.token_offsets[0][0] for part in parts[1:] if part.token_offsets}
    return offsets, starts


def _split_at(offsets: list[tuple[int, int]], boundaries: Sequence[int]) -> list[tuple[int, int]]:
    """Split tokens at every boundary strictly inside them (``boundaries`` sorted)."""
    out: list[tuple[int, int]] = []
    for start, end in offsets:
        i = bisect.bisect_right(boundaries, start)
        begin = start
        while i < len(boundaries) and boundaries[i] < end:
            out.append((begin, boundaries[i]))
            begin = boundaries[i]
            i += 1
        out.append((begin, end))
    return out


def _convert_one(
    source: CharDocument, sentences: SentenceMode, report: ConversionReport
) -> list[Document]:
    text = source.text
    spans: list[tuple[CharEntity, int, int]] = []
    skipped_ids = set(source.skipped_ids)
    for entity in source.entities:
        if not 0 <= entity.start < entity.end <= len(text):
            raise DataError(
                f"entity {entity.id} spans characters [{entity.start}, {entity.end}), outside "
                f"the text's {len(text)} characters (or empty); fix its offsets",
                code="E133",
                file=source.file,
                field=entity.where or entity.id,
            )
        start, end = _trim(text, entity.start, entity.end)
        if start == end:
            report.skip("entity of only whitespace", entity.where or source.where)
            skipped_ids.add(entity.id)
            continue
        if (start, end) != (entity.start, entity.end):
            report.note("entity span trimmed of surrounding whitespace")
        spans.append((entity, start, end))

    offsets, sentence_starts = _tokenize(text, sentences == "spacy")
    boundaries = sorted({b for _, s, e in spans for b in (s, e)})
    offsets = _split_at(offsets, boundaries)
    if not offsets:
        report.skip("document without any word", source.where)
        for _ in spans:
            report.skip("entity of a document without any word", source.where)
        return []
    if sentences == "newline":
        sentence_starts = {
            s
            for (_, prev_end), (s, _) in zip(offsets, offsets[1:], strict=False)
            if "\n" in text[prev_end:s]
        }
    token_of_start = {s: i for i, (s, _) in enumerate(offsets)}
    token_of_end = {e: i for i, (_, e) in enumerate(offsets)}

    entities: list[Entity] = []
    index_of: dict[str, int] = {}
    for entity, start, end in spans:
        if entity.id in index_of:
            raise DataError(
                f"entity id {entity.id} is defined twice; give each entity its own id",
                code="E132",
                file=source.file,
                field=entity.where or entity.id,
            )
        first, last = token_of_start.get(start), token_of_end.get(end)
        if first is None or last is None:  # only invisible control characters at an edge
            report.skip("entity that does not start and end on a word", entity.where)
            skipped_ids.add(entity.id)
            continue
        index_of[entity.id] = len(entities)
        entities.append(Entity(entity.type, first, last + 1, char_start=start, char_end=end))

    relations: list[Relation] = []
    for relation in source.relations:
        ends = []
        for role in (relation.head, relation.tail):
            if role not in index_of and role not in skipped_ids:
                raise DataError(
                    f"relation {relation.type} refers to entity id {role}, which the document "
                    "does not define; add the entity or remove the relation",
                    code="E132",
                    file=source.file,
                    field=relation.where or relation.type,
                )
            ends.append(index_of.get(role))
        head, tail = ends
        if head is None or tail is None:
            report.skip("relation to a skipped entity", relation.where or source.where)
            continue
        if head == tail:
            report.skip("relation from an entity to itself", relation.where or source.where)
            continue
        relations.append(Relation(relation.type, head, tail))

    if sentences == "none":
        breaks: list[int] = []
    else:
        breaks = sorted(token_of_start[s] for s in sentence_starts if s in token_of_start)
        closed: set[int] = set()
        for e in entities:
            closed.update(b for b in breaks if e.start < b < e.end)
        for r in relations:
            h, t = entities[r.head], entities[r.tail]
            low, high = min(h.start, t.start), max(h.end, t.end)
            closed.update(b for b in breaks if low < b < high)
        if closed:
            report.note(
                "sentence boundary kept closed (an entity or relation crosses it)", len(closed)
            )
        breaks = [b for b in breaks if b not in closed]
    return _cut(source, text, offsets, entities, relations, breaks, sentences != "none")


def _cut(
    source: CharDocument,
    text: str,
    offsets: list[tuple[int, int]],
    entities: list[Entity],
    relations: list[Relation],
    breaks: list[int],
    split: bool,
) -> list[Document]:
    bounds = [0, *breaks, len(offsets)]
    out = []
    for k, (first, last) in enumerate(zip(bounds, bounds[1:], strict=False)):
        char_begin = 0 if k == 0 else offsets[first][0]
        char_stop = len(text) if last == len(offsets) else offsets[last][0]
        local = [i for i, e in enumerate(entities) if first <= e.start and e.end <= last]
        new_index = {old: new for new, old in enumerate(local)}
        doc_entities = tuple(
            Entity(
                e.type,
                e.start - first,
                e.end - first,
                char_start=e.char_start - char_begin,  # type: ignore[operator]
                char_end=e.char_end - char_begin,  # type: ignore[operator]
                text=text[e.char_start : e.char_end],
            )
            for e in (entities[i] for i in local)
        )
        doc_relations = tuple(
            Relation(r.type, new_index[r.head], new_index[r.tail])
            for r in relations
            if r.head in new_index and r.tail in new_index
        )
        out.append(
            Document(
                tokens=tuple(text[s:e] for s, e in offsets[first:last]),
                entities=doc_entities,
                relations=doc_relations,
                orig_id=f"{source.id}#{k}" if split else source.id,
                text=text[char_begin:char_stop],
            )
        )
    return out


# ------------------------------------------------------------------ SpERT → characters


def token_offsets_in(text: str, tokens: Sequence[str]) -> list[tuple[int, int]] | None:
    r"""Find each token in ``text``, in order; ``None`` when one is not there.

    Tokens made from a text (by this module or :mod:`spertmt.data.text`) cover every
    character but whitespace and invisible controls, so the first match after the previous
    token is the token's own place.

    Example:
        >>> token_offsets_in("Ann  met\nBob.", ["Ann", "met", "Bob", "."])
        [(0, 3), (5, 8), (9, 12), (12, 13)]
    """
    out = []
    position = 0
    for token in tokens:
        start = text.find(token, position)
        if start < 0 or text[position:start].strip():
            return None
        position = start + len(token)
        out.append((start, position))
    return out


def group_sentences(documents: Sequence[Document]) -> list[tuple[str, list[Document]]]:
    """Group consecutive sentence documents ``ID#0``, ``ID#1``, ... back into their source.

    A document whose ``orig_id`` is not of that form (or breaks the sequence) is a group of
    its own, named by its ``orig_id`` (or ``doc<N>`` without one).

    Example:
        >>> docs = [Document(("A",), orig_id="x#0"), Document(("B",), orig_id="x#1"),
        ...         Document(("C",), orig_id=7), Document(("D",))]
        >>> [(name, len(group)) for name, group in group_sentences(docs)]
        [('x', 2), ('7', 1), ('doc3', 1)]
    """
    groups: list[tuple[str, list[Document]]] = []
    current: str | None = None
    expected = 0
    for index, doc in enumerate(documents):
        match = _SENTENCE_ID.match(doc.orig_id) if isinstance(doc.orig_id, str) else None
        if match and match[1] == current and int(match[2]) == expected and groups:
            groups[-1][1].append(doc)
            expected += 1
            continue
        if match and int(match[2]) == 0:
            current, expected = match[1], 1
            groups.append((match[1], [doc]))
            continue
        current = None
        name = str(doc.orig_id) if doc.orig_id is not None else f"doc{index}"
        groups.append((name, [doc]))
    return groups


def spert_to_char_documents(
    documents: Sequence[Document], *, report: ConversionReport
) -> list[CharDocument]:
    """Turn SpERT documents into character-span documents, joining split sentences back.

    A document with ``text`` (made from raw text) keeps it exactly; one without gets its
    tokens joined by spaces, and sentences of one source joined by line breaks. Entity ids
    are ``T1``, ``T2``, ... per source document.

    Args:
        documents: SpERT documents.
        report: Counts what was left out (filled in place).

    Returns:
        One character document per source document.
    """
    out = []
    for name, group in group_sentences(documents):
        pieces: list[str] = []
        entities: list[CharEntity] = []
        relations: list[CharRelation] = []
        length = 0
        for k, doc in enumerate(group):
            offsets = token_offsets_in(doc.text, doc.tokens) if doc.text is not None else None
            if offsets is None:
                piece = " ".join(doc.tokens) + ("\n" if k + 1 < len(group) else "")
                offsets = token_offsets_in(piece, doc.tokens)
                assert offsets is not None
                if doc.text is not None:
                    report.note("document text that does not hold its tokens (tokens used)")
            else:
                piece = doc.text or ""
            ids = []
            for entity in doc.entities:
                ids.append(f"T{len(entities) + 1}")
                entities.append(
                    CharEntity(
                        ids[-1],
                        entity.type,
                        length + offsets[entity.start][0],
                        length + offsets[entity.end - 1][1],
                    )
                )
            relations.extend(CharRelation(r.type, ids[r.head], ids[r.tail]) for r in doc.relations)
            pieces.append(piece)
            length += len(piece)
        out.append(CharDocument(name, "".join(pieces), entities, relations))
    return out


def is_type_name(value: object) -> TypeGuard[str]:
    """Whether ``value`` can name an entity or relation type: a non-empty string.

    The rule of the types file (:func:`spertmt.data.io.read_types`), so that a converted file
    and its derived types file always read back.

    Example:
        >>> [is_type_name(v) for v in ("Loc", "", None, 3)]
        [True, False, False, False]
    """
    return isinstance(value, str) and value != ""


def json_line(record: object) -> str:
    r"""One JSON Lines line: UTF-8 as it is, but U+2028/U+2029 escaped (line breaks to many tools).

    Example:
        >>> json_line({"text": "a\u2028b"})
        '{"text": "a\\u2028b"}'
    """
    import json

    return (
        json.dumps(record, ensure_ascii=False)
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
