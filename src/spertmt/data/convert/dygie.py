"""DyGIE/PURE JSON Lines (SciERC's original format), read and written.

One document per line, its sentences as token lists; annotations are per sentence with
**document-level, inclusive** token indices::

    {"doc_key": "X96-1059",
     "sentences": [["We", "use", "CRFs", "."], ["CRFs", "help", "parsing", "."]],
     "ner": [[[2, 2, "Method"]], [[4, 4, "Method"], [6, 6, "Task"]]],
     "relations": [[], [[4, 4, 6, 6, "USED-FOR"]]]}

Read (``sentences="given"``, the default): one SpERT document per sentence, ``orig_id``
``"<doc_key>#<k>"``, with ``end`` exclusive and sentence-local; ``sentences="none"`` gives one
document per line instead. Keys spertmt has no place for (``clusters``, ``events``,
``predicted_ner``, ...) are counted in the report. Written: sentences of one document
(``ID#0``, ``ID#1``, ...) are joined back into one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spertmt.data.convert.chars import SentenceMode, group_sentences, is_type_name, json_line
from spertmt.data.convert.report import ConversionReport
from spertmt.data.io import json_lines, write_text_atomic
from spertmt.errors import DataError
from spertmt.schema import Document, Entity, Relation

__all__ = ["read_dygie", "write_dygie"]

_KNOWN = {"doc_key", "dataset", "sentences", "ner", "relations"}


def read_dygie(
    path: str | Path, *, sentences: SentenceMode = "given", report: ConversionReport
) -> list[Document]:
    """Read DyGIE/PURE JSON Lines into SpERT documents.

    Args:
        path: The ``.json``/``.jsonl`` file (one JSON document per line).
        sentences: ``"given"``: one document per sentence; ``"none"``: one per line.
        report: Counts documents and everything left out (filled in place).

    Returns:
        The documents.

    Raises:
        DataError: ``E102`` for a line that is not JSON; ``E134`` for a document whose
            sentences, ``ner`` or ``relations`` are malformed or do not fit each other, naming
            the line and field.
    """
    if sentences not in ("given", "none"):
        raise DataError(
            f"--sentences {sentences} does not apply to DyGIE input, whose sentences are "
            "given; use given (one document per sentence) or none (one per line)",
            code="E130",
        )
    path = Path(path)
    out: list[Document] = []
    for number, raw in json_lines(path, "DyGIE files hold one JSON document per line"):
        report.source_documents += 1
        out.extend(_document(raw, path, number, sentences, report))
    return out


def _document(
    raw: Any, path: Path, number: int, sentences: SentenceMode, report: ConversionReport
) -> list[Document]:
    def fail(field: str, message: str) -> DataError:
        return DataError(message, code="E134", file=path, line=number, field=field)

    if not isinstance(raw, dict):
        raise fail("(line)", "a DyGIE line must be a JSON object with 'sentences'")
    where = f"{path}, line {number}"
    for key in sorted(set(raw) - _KNOWN):
        report.skip(f"DyGIE field {key!r}", where)
    key = raw.get("doc_key", f"line{number}")
    sents = raw.get("sentences")
    if not isinstance(sents, list) or not all(
        isinstance(s, list) and all(isinstance(t, str) and t.strip() for t in s) for s in sents
    ):
        raise fail("sentences", "must be a list of sentences, each a list of non-blank words")
    per_sentence = {}
    for name in ("ner", "relations"):
        value = raw.get(name, [[] for _ in sents])
        if not isinstance(value, list) or len(value) != len(sents):
            raise fail(
                name,
                f"must be a list with one list per sentence ({len(sents)}), got "
                f"{len(value) if isinstance(value, list) else type(value).__name__}",
            )
        per_sentence[name] = value

    docs: list[Document] = []
    offset = 0
    for k, tokens in enumerate(sents):
        low, high = offset, offset + len(tokens)
        entities: list[Entity] = []
        index: dict[tuple[int, int], int] = {}
        for j, item in enumerate(per_sentence["ner"][k]):
            field = f"ner[{k}][{j}]"
            if (
                not isinstance(item, list)
                or len(item) < 3
                or not all(type(v) is int for v in item[:2])
                or not is_type_name(item[2])
            ):
                raise fail(
                    field, "an entity must be [start, end, type] (inclusive end, a non-empty type)"
                )
            start, end = item[0], item[1]
            if not low <= start <= end < high:
                raise fail(
                    field,
                    f"span [{start}, {end}] is not inside sentence {k}, which holds words "
                    f"{low} to {high - 1} (indices count from the document's first word, "
                    "end inclusive)",
                )
            span = (start - low, end - low + 1)
            if span in index and entities[index[span]].type == item[2]:
                report.skip("duplicate entity", f"{where}, {field}")
                continue
            index.setdefault(span, len(entities))
            entities.append(Entity(item[2], *span))
        relations: list[Relation] = []
        for j, item in enumerate(per_sentence["relations"][k]):
            field = f"relations[{k}][{j}]"
            if (
                not isinstance(item, list)
                or len(item) < 5
                or not all(type(v) is int for v in item[:4])
                or not is_type_name(item[4])
            ):
                raise fail(
                    field,
                    "a relation must be [head_start, head_end, tail_start, tail_end, type] "
                    "(a non-empty type)",
                )
            head = index.get((item[0] - low, item[1] - low + 1))
            tail = index.get((item[2] - low, item[3] - low + 1))
            if head is None or tail is None:
                report.skip(
                    "relation whose argument is not an entity of its sentence", f"{where}, {field}"
                )
                continue
            relations.append(Relation(item[4], head, tail))
        offset = high
        if not tokens:
            report.skip("empty sentence", f"{where}, sentences[{k}]")
            continue
        docs.append(
            Document(tuple(tokens), tuple(entities), tuple(relations), orig_id=f"{key}#{k}")
        )
    if sentences == "none" and docs:
        return [_merge(docs, key)]
    return docs


def _merge(docs: Sequence[Document], key: Any) -> Document:
    tokens: list[str] = []
    entities: list[Entity] = []
    relations: list[Relation] = []
    for doc in docs:
        shift, base = len(tokens), len(entities)
        tokens.extend(doc.tokens)
        entities.extend(Entity(e.type, e.start + shift, e.end + shift) for e in doc.entities)
        relations.extend(Relation(r.type, r.head + base, r.tail + base) for r in doc.relations)
    return Document(tuple(tokens), tuple(entities), tuple(relations), orig_id=key)


def write_dygie(path: str | Path, documents: Sequence[Document]) -> int:
    """Write SpERT documents as DyGIE/PURE JSON Lines, one line per source document.

    Args:
        path: The output file.
        documents: SpERT documents; ``ID#0``, ``ID#1``, ... become the sentences of ``ID``.

    Returns:
        The number of lines (DyGIE documents) written.
    """
    lines = []
    for name, group in group_sentences(documents):
        sentences, ner, relations = [], [], []
        offset = 0
        for doc in group:
            sentences.append(list(doc.tokens))
            ner.append([[offset + e.start, offset + e.end - 1, e.type] for e in doc.entities])
            relations.append(
                [
                    [
                        offset + doc.entities[r.head].start,
                        offset + doc.entities[r.head].end - 1,
                        offset + doc.entities[r.tail].start,
                        offset + doc.entities[r.tail].end - 1,
                        r.type,
                    ]
                    for r in doc.relations
                ]
            )
            offset += len(doc.tokens)
        record = {"doc_key": name, "sentences": sentences, "ner": ner, "relations": relations}
        lines.append(json_line(record))
    write_text_atomic(path, "".join(line + "\n" for line in lines))
    return len(lines)
