"""spaCy ``DocBin`` files (``.spacy``), written and read; the ``Doc._.relations`` extension.

Each SpERT document becomes one spaCy ``Doc``:

- Its words are the document's tokens. A document made from raw text keeps its exact
  ``text``: whitespace other than one space after a word becomes whitespace tokens, as spaCy
  does itself, so ``doc.text`` is the source text and ``token.idx`` its character offsets.
- Entities go to ``doc.ents`` when no two share a word, else to ``doc.spans["spertmt"]``
  (:data:`SPANS_KEY`), which may overlap.
- Relations go to ``doc._.relations`` (registered by :func:`register_relations_extension`):
  a list of ``{"head": (start, end, label), "tail": (start, end, label), "type": str,
  "score": float | None}``, with spaCy token indices (``end`` exclusive) naming the head and
  tail spans. After a ``DocBin`` round trip the tuples come back as lists.
- ``doc.user_data["spertmt_orig_id"]`` keeps the ``orig_id``, and
  ``doc.user_data["spertmt_has_text"]`` whether the document had a ``text``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spertmt.data.convert.chars import is_type_name, token_offsets_in
from spertmt.data.io import write_bytes_atomic
from spertmt.errors import DataError
from spertmt.schema import Document, Entity, Relation

if TYPE_CHECKING:
    from spacy.tokens import Doc
    from spacy.vocab import Vocab

__all__ = [
    "SPANS_KEY",
    "document_to_doc",
    "doc_to_document",
    "read_docbin",
    "register_relations_extension",
    "write_docbin",
]

SPANS_KEY = "spertmt"
"""``doc.spans`` key of entities that overlap (and so cannot be ``doc.ents``)."""


def register_relations_extension() -> None:
    """Register ``Doc._.relations`` (default ``None``) unless it is registered already."""
    from spacy.tokens import Doc

    if not Doc.has_extension("relations"):
        Doc.set_extension("relations", default=None)


def _overlapping(entities: Sequence[tuple[int, int, str]]) -> bool:
    ordered = sorted(entities)
    return any(b[0] < a[1] for a, b in zip(ordered, ordered[1:], strict=False))


def set_entities(doc: Doc, entities: Sequence[tuple[int, int, str]]) -> None:
    """Put ``(start, end, label)`` token spans in ``doc.ents``, or ``doc.spans`` if they overlap."""
    from spacy.tokens import Span

    spans = [Span(doc, start, end, label=label) for start, end, label in entities]
    if _overlapping(entities):
        doc.spans[SPANS_KEY] = spans
    else:
        doc.ents = spans


def document_to_doc(document: Document, vocab: Vocab) -> Doc:
    """Build the spaCy ``Doc`` of one SpERT document (see the module docstring)."""
    from spacy.tokens import Doc

    register_relations_extension()
    tokens = list(document.tokens)
    offsets = token_offsets_in(document.text, tokens) if document.text is not None else None
    words: list[str] = []
    spaces: list[bool] = []
    position: list[int] = []  # SpERT token -> spaCy token
    if offsets is None:
        words, spaces = tokens, [True] * len(tokens)
        if spaces:
            spaces[-1] = False
        position = list(range(len(tokens)))
    else:
        text = document.text or ""
        cursor = 0
        for k, (start, end) in enumerate(offsets):
            gap = text[cursor:start]
            if gap:
                if words and gap.startswith(" "):
                    spaces[-1], gap = True, gap[1:]
                if gap:
                    words.append(gap)
                    spaces.append(False)
            position.append(len(words))
            words.append(tokens[k])
            spaces.append(False)
            cursor = end
        tail = text[cursor:]
        if tail.startswith(" ") and words:
            spaces[-1], tail = True, tail[1:]
        if tail:
            words.append(tail)
            spaces.append(False)
    doc = Doc(vocab, words=words, spaces=spaces)
    spans = [(position[e.start], position[e.end - 1] + 1, e.type) for e in document.entities]
    set_entities(doc, spans)
    doc._.relations = [
        {
            "head": spans[r.head],
            "tail": spans[r.tail],
            "type": r.type,
            "score": r.score,
        }
        for r in document.relations
    ]
    if document.orig_id is not None:
        doc.user_data["spertmt_orig_id"] = document.orig_id
    doc.user_data["spertmt_has_text"] = offsets is not None
    return doc


def doc_to_document(doc: Doc, *, file: str | Path | None = None, number: int = 0) -> Document:
    """Read one spaCy ``Doc`` back into a SpERT document (whitespace tokens dropped).

    Args:
        doc: The ``Doc``.
        file: The DocBin it came from (named in errors).
        number: The ``Doc``'s place in that file, from 0 (named in errors).

    Raises:
        DataError: ``E133`` for an entity that starts or ends on a whitespace token (it has no
            SpERT token there), ``E132`` for a relation whose head or tail is no entity of the
            document, ``E137`` for a relation that is not ``{"head", "tail", "type"}`` with
            a non-empty type name, or an entity label that is empty.
    """
    register_relations_extension()
    where = f"document {number}" + (
        f" (orig_id {doc.user_data['spertmt_orig_id']!r})"
        if "spertmt_orig_id" in doc.user_data
        else ""
    )

    def bad(message: str, code: str) -> DataError:
        return DataError(message, code=code, file=file, field=where)

    index: dict[int, int] = {}
    tokens: list[str] = []
    for token in doc:
        if not token.text.isspace():  # a bare Vocab sets no lexical flags (is_space)
            index[token.i] = len(tokens)
            tokens.append(token.text)
    # Docs made by spaCy itself always have a text; ours say whether the document had one.
    has_text = bool(doc.user_data.get("spertmt_has_text", True))
    entity_index: dict[tuple[int, int, str], int] = {}
    entities: list[Entity] = []
    spans = list(doc.ents) + list(doc.spans.get(SPANS_KEY, []))
    for span in spans:
        key = (span.start, span.end, span.label_)
        if key in entity_index:
            continue
        if not is_type_name(span.label_):
            raise bad(f"the entity at tokens {span.start}-{span.end} has no label", "E137")
        if span.start not in index or span.end - 1 not in index:
            raise bad(
                f"entity {span.label_} {span.text!r} (tokens {span.start}-{span.end}) starts "
                "or ends on a whitespace token, which a SpERT document has no token for; "
                "trim the span to its words",
                "E133",
            )
        entity_index[key] = len(entities)
        start, end = index[span.start], index[span.end - 1] + 1
        if has_text:
            entities.append(
                Entity(
                    span.label_,
                    start,
                    end,
                    char_start=span.start_char,
                    char_end=span.end_char,
                    text=span.text,
                )
            )
        else:
            entities.append(Entity(span.label_, start, end))
    relations = []
    for k, relation in enumerate(doc._.relations or []):
        if not isinstance(relation, dict) or not is_type_name(relation.get("type")):
            raise bad(
                f"relation {k} is not an object with head, tail and a non-empty type name",
                "E137",
            )
        ends = []
        for role in ("head", "tail"):
            span = relation.get(role)
            try:
                ends.append(entity_index[tuple(span)])  # type: ignore[arg-type]
            except (KeyError, TypeError):
                raise bad(
                    f"relation {k} ({relation['type']}) has a {role} {span!r} that is no "
                    'entity of the document (doc.ents or doc.spans["spertmt"] as '
                    "[start, end, label])",
                    "E132",
                ) from None
        score = relation.get("score")
        relations.append(Relation(relation["type"], ends[0], ends[1], score=score))
    return Document(
        tuple(tokens),
        tuple(entities),
        tuple(relations),
        orig_id=doc.user_data.get("spertmt_orig_id"),
        text=doc.text if has_text else None,
    )


def write_docbin(path: str | Path, documents: Sequence[Document]) -> int:
    """Write SpERT documents as a spaCy ``DocBin`` file; return how many.

    Raises:
        DataError: ``E115`` when the file cannot be written.
    """
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    vocab = Vocab()
    docbin = DocBin(store_user_data=True)
    for document in documents:
        docbin.add(document_to_doc(document, vocab))
    write_bytes_atomic(path, docbin.to_bytes())
    return len(documents)


def read_docbin(path: str | Path) -> list[Document]:
    """Read a spaCy ``DocBin`` file (as written by :func:`write_docbin`, or by spaCy).

    Raises:
        DataError: ``E101`` when the file cannot be read; ``E137`` when it is not a DocBin.
    """
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(
            f"cannot be read: {error.strerror or error}", code="E101", file=path
        ) from None
    try:
        docbin = DocBin().from_bytes(data)
        docs: list[Any] = list(docbin.get_docs(Vocab()))
    except Exception as error:  # spaCy/msgpack raise many kinds for a foreign file
        raise DataError(
            f"is not a spaCy DocBin file ({type(error).__name__}); write one with "
            "DocBin.to_disk or `spertmt convert --to spacy`",
            code="E137",
            file=path,
        ) from None
    return [doc_to_document(doc, file=path, number=k) for k, doc in enumerate(docs)]
