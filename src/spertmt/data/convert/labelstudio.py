"""Label Studio JSON exports (labels + relations), read and written.

An export is a JSON list of tasks; a task's text is ``data.text`` (or the task's only string
in ``data``) and its first annotation that was not cancelled is converted::

    [{"id": 3, "data": {"text": "Ann lives in Rome."},
      "annotations": [{"result": [
        {"id": "a", "type": "labels", "from_name": "label", "to_name": "text",
         "value": {"start": 0, "end": 3, "text": "Ann", "labels": ["Peop"]}},
        {"id": "b", "type": "labels", "from_name": "label", "to_name": "text",
         "value": {"start": 13, "end": 17, "text": "Rome", "labels": ["Loc"]}},
        {"type": "relation", "from_id": "a", "to_id": "b", "direction": "right",
         "labels": ["Live_In"]}]}]}]

Label Studio counts offsets in UTF-16 code units (JavaScript strings); where a region's
``text`` does not match the code-point offsets, the UTF-16 reading is used when that matches.
A relation's ``direction`` ``"left"`` swaps head and tail; ``"bi"`` keeps ``from → to``
(counted as a note); one relation is made per label. Other annotations of a task,
predictions, and results of other types (choices, text areas, ratings) are counted and left
out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from spertmt.data.convert.chars import CharDocument, CharEntity, CharRelation, is_type_name
from spertmt.data.convert.report import ConversionReport
from spertmt.data.io import write_text_atomic
from spertmt.errors import DataError

__all__ = ["read_label_studio", "write_label_studio"]


def read_label_studio(path: str | Path, *, report: ConversionReport) -> list[CharDocument]:
    """Read a Label Studio JSON export.

    Args:
        path: The ``.json`` export (a list of tasks).
        report: Counts documents and everything left out (filled in place).

    Returns:
        One document per task; its id is the task's ``id`` (else ``task<N>``).

    Raises:
        DataError: ``E102`` for invalid JSON; ``E135`` for a task without text or with a
            malformed region or relation; ``E133`` for a region whose text differs from the
            text at its offsets. Each names the task (as ``document``) and the field.
    """
    from spertmt.data.io import _load_json

    path = Path(path)
    data = _load_json(path)
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise DataError(
            "a Label Studio export must be a JSON list of tasks", code="E135", file=path
        )
    docs = [_task(task, path, i, report) for i, task in enumerate(data)]
    report.source_documents += len(docs)
    return docs


def _utf16_to_index(text: str, unit: int) -> int | None:
    count = 0
    for index, ch in enumerate(text):
        if count == unit:
            return index
        count += 2 if ord(ch) > 0xFFFF else 1
    return len(text) if count == unit else None


def _task(task: Any, path: Path, index: int, report: ConversionReport) -> CharDocument:
    def fail(field: str, message: str, code: str = "E135") -> DataError:
        return DataError(message, code=code, file=path, doc_index=index, field=field)

    if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
        raise fail("data", "a task must be an object with 'data' holding the text")
    data = task["data"]
    text = data.get("text")
    if not isinstance(text, str):
        strings = [v for v in data.values() if isinstance(v, str)]
        if len(strings) != 1:
            raise fail("data.text", "no 'text' in the task's data (and not one string to use)")
        text = strings[0]
    where = f"{path}, task {index}"
    doc = CharDocument(str(task.get("id", f"task{index}")), text, where=where, file=str(path))
    annotations = task.get("annotations", task.get("completions", []))
    if not isinstance(annotations, list):
        raise fail("annotations", "must be a list")
    if task.get("predictions"):
        report.skip("Label Studio prediction (annotations only are converted)", where)
    kept = [a for a in annotations if isinstance(a, dict) and not a.get("was_cancelled")]
    if len(annotations) > len(kept):
        report.skip("cancelled annotation", where, len(annotations) - len(kept))
    if len(kept) > 1:
        report.skip(
            "further annotation of a task (only the first is converted)", where, len(kept) - 1
        )
    if not kept:
        return doc
    first = annotations.index(kept[0])
    results = kept[0].get("result", [])
    if not isinstance(results, list):
        raise fail(f"annotations[{first}].result", "must be a list")
    for j, result in enumerate(results):
        field = f"annotations[{first}].result[{j}]"
        if not isinstance(result, dict):
            raise fail(field, "must be an object")
        kind = result.get("type")
        if kind == "relation":
            labels = result.get("labels") or []
            if "from_id" not in result or "to_id" not in result or not isinstance(labels, list):
                raise fail(field, "a relation needs from_id, to_id and a list of labels")
            head, tail = str(result["from_id"]), str(result["to_id"])
            if result.get("direction") == "left":
                head, tail = tail, head
            elif result.get("direction") == "bi":
                report.note("bidirectional relation converted as from → to")
            if not labels:
                report.skip("relation without a label", f"{where}, {field}")
                continue
            if not all(is_type_name(label) for label in labels):
                raise fail(f"{field}.labels", "labels must be non-empty strings")
            for label in labels:
                doc.relations.append(CharRelation(label, head, tail, f"{where}, {field}"))
            continue
        if kind != "labels":
            report.skip(f"Label Studio result of type {kind!r}", f"{where}, {field}")
            continue
        value = result.get("value")
        if not isinstance(value, dict):
            raise fail(f"{field}.value", "must be an object with start, end and labels")
        start, end, labels = value.get("start"), value.get("end"), value.get("labels")
        if type(start) is not int or type(end) is not int or not isinstance(labels, list):
            raise fail(f"{field}.value", "needs integer start and end and a list of labels")
        surface = value.get("text")
        if isinstance(surface, str) and text[start:end] != surface:
            s16, e16 = _utf16_to_index(text, start), _utf16_to_index(text, end)
            if s16 is not None and e16 is not None and text[s16:e16] == surface:
                start, end = s16, e16
                report.note("Label Studio region offsets read as UTF-16 code units")
            else:
                raise fail(
                    f"{field}.value.text",
                    f"{surface!r} differs from {text[start:end]!r} at [{start}, {end}) of the "
                    "task's text",
                    "E133",
                )
        if not all(is_type_name(label) for label in labels):
            raise fail(f"{field}.value.labels", "labels must be non-empty strings")
        region = str(result.get("id", f"r{j}"))
        if not labels:
            report.skip("region without a label", f"{where}, {field}")
            doc.skipped_ids.add(region)
            continue
        if len(labels) > 1:
            report.note("region with several labels (one entity per label)")
        for k, label in enumerate(labels):
            entity_id = region if k == 0 else f"{region}/{k}"
            doc.entities.append(CharEntity(entity_id, label, start, end, f"{where}, {field}"))
    return doc


def write_label_studio(path: str | Path, documents: list[CharDocument]) -> int:
    """Write documents as a Label Studio JSON export (one task each); return how many."""
    tasks = []
    for n, doc in enumerate(documents, 1):
        result: list[dict[str, Any]] = [
            {
                "id": e.id,
                "type": "labels",
                "from_name": "label",
                "to_name": "text",
                "value": {
                    "start": e.start,
                    "end": e.end,
                    "text": doc.text[e.start : e.end],
                    "labels": [e.type],
                },
            }
            for e in doc.entities
        ]
        result += [
            {
                "type": "relation",
                "from_id": r.head,
                "to_id": r.tail,
                "direction": "right",
                "labels": [r.type],
            }
            for r in doc.relations
        ]
        tasks.append(
            {"id": doc.id, "data": {"text": doc.text}, "annotations": [{"id": n, "result": result}]}
        )
    write_text_atomic(path, json.dumps(tasks, ensure_ascii=False, indent=1) + "\n")
    return len(tasks)
