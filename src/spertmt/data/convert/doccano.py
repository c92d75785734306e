"""doccano JSON Lines exports (sequence labelling, with or without relations), read and written.

One record per line. The relation project's export::

    {"id": 7, "text": "Ann lives in Rome.",
     "entities": [{"id": 1, "label": "Peop", "start_offset": 0, "end_offset": 3},
                  {"id": 2, "label": "Loc", "start_offset": 13, "end_offset": 17}],
     "relations": [{"id": 1, "from_id": 1, "to_id": 2, "type": "Live_In"}]}

The plain sequence-labelling export, ``"label": [[0, 3, "Peop"], ...]``, is read too (no
relations). Offsets are characters of ``text``. Written: the relation form.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spertmt.data.convert.chars import (
    CharDocument,
    CharEntity,
    CharRelation,
    is_type_name,
    json_line,
)
from spertmt.data.convert.report import ConversionReport
from spertmt.data.io import json_lines, write_text_atomic
from spertmt.errors import DataError

__all__ = ["read_doccano", "write_doccano"]

_KNOWN = {"id", "text", "entities", "relations", "label", "labels", "Comments", "comments"}


def read_doccano(path: str | Path, *, report: ConversionReport) -> list[CharDocument]:
    """Read a doccano JSON Lines export.

    Args:
        path: The ``.jsonl`` file.
        report: Counts documents and everything left out (filled in place).

    Returns:
        One document per record; its id is the record's ``id`` (else ``line<N>``).

    Raises:
        DataError: ``E102`` for a line that is not JSON; ``E135`` for a record without
            ``text`` or with a malformed entity or relation, naming the line and field.
    """
    path = Path(path)
    docs = [
        _record(raw, path, number, report)
        for number, raw in json_lines(path, "a doccano export holds one JSON record per line")
    ]
    report.source_documents += len(docs)
    return docs


def _record(raw: Any, path: Path, number: int, report: ConversionReport) -> CharDocument:
    def fail(field: str, message: str) -> DataError:
        return DataError(message, code="E135", file=path, line=number, field=field)

    if not isinstance(raw, dict) or not isinstance(raw.get("text"), str):
        raise fail("text", "a doccano record must be an object with a string 'text'")
    where = f"{path}, line {number}"
    for key in sorted(set(raw) - _KNOWN):
        report.skip(f"doccano field {key!r}", where)
    if raw.get("Comments") or raw.get("comments"):
        report.skip("doccano comment", where)
    doc = CharDocument(
        str(raw.get("id", f"line{number}")), raw["text"], where=where, file=str(path)
    )
    entities = raw.get("entities")
    labels = raw.get("label", raw.get("labels"))
    if entities is not None:
        if not isinstance(entities, list):
            raise fail("entities", "must be a list of entity objects")
        for j, item in enumerate(entities):
            field = f"entities[{j}]"
            if not isinstance(item, dict):
                raise fail(field, "must be an object with id, label, start_offset, end_offset")
            values = [item.get(k) for k in ("label", "start_offset", "end_offset")]
            if not is_type_name(values[0]) or not all(type(v) is int for v in values[1:]):
                raise fail(
                    field,
                    "needs a non-empty string 'label' and integer 'start_offset' and 'end_offset'",
                )
            entity_id = str(item.get("id", f"e{j}"))
            doc.entities.append(
                CharEntity(
                    entity_id,
                    values[0],
                    item["start_offset"],
                    item["end_offset"],
                    f"{where}, {field}",
                )
            )
    elif labels is not None:
        if not isinstance(labels, list):
            raise fail("label", "must be a list of [start, end, label]")
        for j, item in enumerate(labels):
            field = f"label[{j}]"
            if (
                not isinstance(item, list)
                or len(item) != 3
                or not all(type(v) is int for v in item[:2])
                or not is_type_name(item[2])
            ):
                raise fail(
                    field, "must be [start, end, label] with integer offsets, a non-empty label"
                )
            doc.entities.append(CharEntity(f"e{j}", item[2], item[0], item[1], f"{where}, {field}"))
    relations = raw.get("relations") or []
    if not isinstance(relations, list):
        raise fail("relations", "must be a list of relation objects")
    for j, item in enumerate(relations):
        field = f"relations[{j}]"
        if not isinstance(item, dict) or "from_id" not in item or "to_id" not in item:
            raise fail(field, "must be an object with from_id, to_id and type")
        type_ = item.get("type", item.get("label"))
        if not is_type_name(type_):
            raise fail(f"{field}.type", "must be a non-empty string")
        doc.relations.append(
            CharRelation(type_, str(item["from_id"]), str(item["to_id"]), f"{where}, {field}")
        )
    return doc


def write_doccano(path: str | Path, documents: list[CharDocument]) -> int:
    """Write documents as doccano's relation export (JSON Lines); return how many."""
    lines = []
    for doc in documents:
        ids = {e.id: n for n, e in enumerate(doc.entities, 1)}
        record = {
            "id": doc.id,
            "text": doc.text,
            "entities": [
                {"id": ids[e.id], "label": e.type, "start_offset": e.start, "end_offset": e.end}
                for e in doc.entities
            ],
            "relations": [
                {"id": n, "from_id": ids[r.head], "to_id": ids[r.tail], "type": r.type}
                for n, r in enumerate(doc.relations, 1)
            ],
        }
        lines.append(json_line(record))
    write_text_atomic(path, "".join(line + "\n" for line in lines))
    return len(lines)
