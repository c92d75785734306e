r"""brat standoff: ``.txt`` + ``.ann`` pairs, read and written.

Read: ``T`` lines (entities: ``T1<TAB>Type START END<TAB>text``) and ``R`` lines (relations:
``R1<TAB>Type Arg1:T1 Arg2:T2``: ``Arg1`` is the head, in either order; with other role names
the first is). Everything else brat can hold is counted in the report and left out, never
silently: discontinuous entities (``START END;START END``) and relations to them, events
(``E``), their trigger entities and relations to them, attributes (``A``/``M``),
normalisations (``N``), notes (``#``) and equivalences (``*``). Fragments with only
whitespace holding a line break between them are how brat writes one entity over a line
break: that entity is read, and written the same way. Lines end at LF, CRLF or CR only.
Offsets are characters of the ``.txt`` file read as it is on disk (``\r\n`` counts two), and
each ``T`` line's text must equal the text at its offsets.

Written: one ``.txt``/``.ann`` pair per source document (sentences split by
:mod:`spertmt.data.convert.chars` are joined back) and an ``annotation.conf`` declaring the
types, so the folder opens in brat as it is.
"""

from __future__ import annotations

import re
from pathlib import Path

from spertmt.data.convert.chars import CharDocument, CharEntity, CharRelation
from spertmt.data.convert.report import ConversionReport
from spertmt.data.io import read_text, write_text_atomic
from spertmt.errors import DataError
from spertmt.schema import TypeSchema

__all__ = ["read_brat", "write_brat"]

_LINE_BREAK = re.compile(r"\r\n|\n|\r")
"""What ends a line of a ``.ann`` file (not U+2028 or U+0085, which an entity's text may hold)."""
_LINE_BREAKS = re.compile(r"[\r\n]+")

_SKIPPED_KINDS = {
    "E": "event",
    "A": "attribute",
    "M": "attribute",
    "N": "normalization",
    "#": "note",
    "*": "equivalence",
}


def _read(path: Path, *, keep_bom: bool) -> str:
    # newline="": brat counts "\r\n" as two characters; universal newlines would shift offsets.
    # A byte-order mark of the .txt is a character of brat's offsets too: it stays. One at the
    # start of an .ann (a Windows editor's) is no part of its first line: it goes.
    return read_text(path, "a brat .txt or .ann file", newline="", bom=not keep_bom)


def _pairs(path: Path) -> list[tuple[str, Path, Path | None]]:
    """``(document id, .txt, .ann or None)`` for a folder, a ``.txt`` or an ``.ann`` file."""
    if path.is_dir():
        texts = sorted(path.rglob("*.txt"))
        anns = {p.with_suffix("") for p in path.rglob("*.ann")}
        orphans = sorted(anns - {p.with_suffix("") for p in texts})
        if orphans:
            raise DataError(
                f"{orphans[0].name}.ann has no {orphans[0].name}.txt beside it; brat needs both",
                code="E136",
                file=orphans[0].with_suffix(".ann"),
            )
        if not texts:
            raise DataError(
                "holds no .txt/.ann files; give a brat folder or a .ann file",
                code="E136",
                file=path,
            )
        return [
            (
                p.relative_to(path).with_suffix("").as_posix(),
                p,
                p.with_suffix(".ann") if p.with_suffix(".ann").is_file() else None,
            )
            for p in texts
        ]
    if path.suffix not in (".txt", ".ann"):
        raise DataError(
            "is not a brat .txt or .ann file, nor a folder of them", code="E136", file=path
        )
    text, ann = path.with_suffix(".txt"), path.with_suffix(".ann")
    if not text.is_file():
        raise DataError(
            f"has no {text.name} beside it; brat needs the text and the annotations",
            code="E136",
            file=path,
        )
    return [(path.stem, text, ann if ann.is_file() else None)]


def read_brat(path: str | Path, *, report: ConversionReport) -> list[CharDocument]:
    """Read a brat folder (recursively) or one ``.txt``/``.ann`` pair.

    Args:
        path: A folder, or a ``.txt`` or ``.ann`` file (its partner beside it).
        report: Counts documents and everything left out (filled in place).

    Returns:
        One document per ``.txt`` file, with id its path relative to the folder, without
        suffix. A ``.txt`` without ``.ann`` has no annotations (counted as a note).

    Raises:
        DataError: ``E136`` for an input without brat files or an ``.ann`` without its
            ``.txt``; ``E131`` for a malformed line; ``E132`` for an id that is not defined
            or defined twice; ``E133`` for a span outside the text or whose text differs.
            Each names the file, line and field.
    """
    docs = []
    for doc_id, text_path, ann_path in _pairs(Path(path)):
        text = _read(text_path, keep_bom=True)
        doc = CharDocument(doc_id, text, where=str(text_path), file=str(ann_path or text_path))
        if ann_path is None:
            report.note("brat .txt file without .ann (read without annotations)")
        else:
            _parse_ann(ann_path, _read(ann_path, keep_bom=False), doc, report)
        docs.append(doc)
    report.source_documents += len(docs)
    return docs


def _parse_ann(path: Path, content: str, doc: CharDocument, report: ConversionReport) -> None:
    relations: list[tuple[int, str, str, str, str]] = []
    defined: set[str] = set()
    triggers: set[str] = set()
    for number, line in enumerate(_LINE_BREAK.split(content), 1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"

        def fail(message: str, field: str, code: str = "E131", number: int = number) -> DataError:
            return DataError(message, code=code, file=path, line=number, field=field)

        ann_id, _, rest = line.partition("\t")
        kind = ann_id[:1]
        if kind == "T":
            middle, tab, surface = rest.partition("\t")
            parts = middle.split(" ", 1)
            if not tab or len(parts) != 2 or not parts[0]:
                raise fail(
                    f"entity line {ann_id} must be '{ann_id}<TAB>Type START END<TAB>text'",
                    ann_id,
                )
            type_, spans = parts
            if ann_id in defined:
                raise fail(f"id {ann_id} is defined twice", ann_id, "E132")
            defined.add(ann_id)
            offsets = []
            for fragment in spans.split(";"):
                try:
                    start, end = (int(v) for v in fragment.split())
                except ValueError:
                    raise fail(
                        f"offsets {fragment!r} of {ann_id} must be two integers 'START END'",
                        f"{ann_id}.offsets",
                    ) from None
                if not 0 <= start < end <= len(doc.text):
                    raise fail(
                        f"span [{start}, {end}) of {ann_id} is outside the "
                        f"{len(doc.text)} characters of the .txt file (or empty)",
                        f"{ann_id}.offsets",
                        "E133",
                    )
                offsets.append((start, end))
            if not _across_lines(doc.text, offsets):
                # skipped before its text is compared: exporters join the fragments of a
                # discontinuous entity in their own ways, and nothing of it is kept
                report.skip("discontinuous entity", where)
                doc.skipped_ids.add(ann_id)
                continue
            found = " ".join(doc.text[a:b] for a, b in offsets)
            if found != surface:
                raise fail(
                    f"text {surface!r} of {ann_id} differs from {found!r} at {spans} of the "
                    ".txt file; was the .txt re-saved with other line endings or encoding?",
                    f"{ann_id}.text",
                    "E133",
                )
            start, end = offsets[0][0], offsets[-1][1]
            doc.entities.append(CharEntity(ann_id, type_, start, end, where))
        elif kind == "R":
            fields = rest.split("\t", 1)[0].split()
            if len(fields) != 3 or any(":" not in a for a in fields[1:]):
                raise fail(
                    f"relation line {ann_id} must be '{ann_id}<TAB>Type Arg1:T1 Arg2:T2'", ann_id
                )
            roles = dict(a.split(":", 1) for a in fields[1:])
            if set(roles) == {"Arg1", "Arg2"}:
                head, tail = roles["Arg1"], roles["Arg2"]  # by name, in either order
            elif len(roles) == 2:
                (first, head), (second, tail) = roles.items()
                report.note(
                    f"relation roles other than Arg1/Arg2 ({first}, {second}): the first "
                    "read as the head"
                )
            else:
                raise fail(f"relation {ann_id} names the role {fields[1]} twice", ann_id)
            if ann_id in defined:
                raise fail(f"id {ann_id} is defined twice", ann_id, "E132")
            defined.add(ann_id)
            relations.append((number, fields[0], head, tail, where))
        elif kind in _SKIPPED_KINDS:
            report.skip(_SKIPPED_KINDS[kind], where)
            if kind == "E":
                trigger = rest.split()[0].partition(":")[2] if rest.split() else ""
                triggers.add(trigger)
                # A relation may take an event as argument: it goes with the event.
                defined.add(ann_id)
                doc.skipped_ids.add(ann_id)
        else:
            raise fail(
                f"line starts with {ann_id!r}; brat lines start with T, R, E, A, M, N, # or *",
                "id",
            )
    for trigger in sorted(triggers):
        kept = [e for e in doc.entities if e.id == trigger]
        if kept:
            doc.entities.remove(kept[0])
            doc.skipped_ids.add(trigger)
            report.skip("event trigger entity", kept[0].where)
    for number, type_, head, tail, where in relations:
        for role, value in (("Arg1", head), ("Arg2", tail)):
            if value not in defined:
                raise DataError(
                    f"argument {value} is not defined in this file",
                    code="E132",
                    file=path,
                    line=number,
                    field=role,
                )
        doc.relations.append(CharRelation(type_, head, tail, where))


def write_brat(
    folder: str | Path,
    documents: list[CharDocument],
    *,
    types: TypeSchema | None = None,
) -> int:
    """Write one ``.txt``/``.ann`` pair per document, and ``annotation.conf``, into ``folder``.

    File names are the document ids (``/`` makes sub-folders; characters unsafe in file
    names become ``_``; repeated names get ``-2``, ``-3``).

    Args:
        folder: The output folder (created).
        documents: The documents.
        types: Declared types for ``annotation.conf`` (default: the types used).

    Returns:
        The number of documents written.
    """
    folder = Path(folder)
    used: set[str] = set()
    entity_types: dict[str, None] = {}
    relation_args: dict[str, tuple[set[str], set[str]]] = {}
    for doc in documents:
        name = _safe_name(doc.id) or "doc"
        candidate, n = name, 1
        while candidate in used:
            n += 1
            candidate = f"{name}-{n}"
        used.add(candidate)
        lines = []
        types_of = {}
        for name_, kind in [(e.type, "entity") for e in doc.entities] + [
            (r.type, "relation") for r in doc.relations
        ]:
            if not name_ or any(c.isspace() or not c.isprintable() for c in name_):
                raise DataError(
                    f"{kind} type {name_!r} cannot be written to brat, whose types are single "
                    "words; rename it (e.g. spaces to _)",
                    code="E138",
                    file=folder,
                    field=f"document {doc.id}",
                )
        for entity in doc.entities:
            types_of[entity.id] = entity.type
            entity_types.setdefault(entity.type)
            offsets, surface = _fragments(doc.text, entity.start, entity.end)
            if not offsets:
                raise DataError(
                    f"entity {entity.id} covers only line breaks, which brat cannot show",
                    code="E138",
                    file=folder,
                    field=f"document {doc.id}",
                )
            lines.append(f"{entity.id}\t{entity.type} {offsets}\t{surface}")
        for k, relation in enumerate(doc.relations, 1):
            heads, tails = relation_args.setdefault(relation.type, (set(), set()))
            heads.add(types_of[relation.head])
            tails.add(types_of[relation.tail])
            lines.append(f"R{k}\t{relation.type} Arg1:{relation.head} Arg2:{relation.tail}")
        write_text_atomic(folder / f"{candidate}.txt", doc.text)
        write_text_atomic(folder / f"{candidate}.ann", "".join(line + "\n" for line in lines))
    if types is not None:
        for name in types.entity_names:
            entity_types.setdefault(name)
        for name in types.relation_names:
            relation_args.setdefault(name, (set(), set()))
    conf = ["[entities]", *entity_types, "", "[relations]"]
    for name, (heads, tails) in relation_args.items():
        arg1 = "|".join(sorted(heads)) or "<ENTITY>"
        arg2 = "|".join(sorted(tails)) or "<ENTITY>"
        conf.append(f"{name}\tArg1:{arg1}, Arg2:{arg2}")
    conf += ["", "[events]", "", "[attributes]", ""]
    write_text_atomic(folder / "annotation.conf", "\n".join(conf))
    return len(documents)


def _across_lines(text: str, offsets: list[tuple[int, int]]) -> bool:
    """Whether fragments are one entity that brat split at line breaks, not a discontinuous one.

    brat writes an entity over a line break as fragments with only whitespace, holding a line
    break, between them.
    """
    return all(
        not (gap := text[end:start]).strip() and _LINE_BREAKS.search(gap) is not None
        for (_, end), (start, _) in zip(offsets, offsets[1:], strict=False)
    )


def _fragments(text: str, start: int, end: int) -> tuple[str, str]:
    r"""The offsets and text of an entity as brat writes it: split at line breaks.

    A ``.ann`` line cannot hold a line break, so an entity over ``"New\nYork"`` is written as
    brat does, two fragments ``0 3;4 8`` with the text ``New York`` (read back as one entity).
    A piece of only spaces between two line breaks is no fragment.

    Example:
        >>> _fragments("New\n  \nYork", 0, 11)
        ('0 3;7 11', 'New York')
    """
    pieces, position = [], start
    for match in _LINE_BREAKS.finditer(text, start, end):
        pieces.append((position, match.start()))
        position = match.end()
    pieces.append((position, end))
    pieces = [(a, b) for a, b in pieces if text[a:b].strip()]  # brat writes no blank fragment
    return (
        ";".join(f"{a} {b}" for a, b in pieces),
        " ".join(text[a:b] for a, b in pieces),
    )


def _safe_name(name: str) -> str:
    parts = [
        "".join(c if c.isalnum() or c in "-_.+" else "_" for c in part).strip(".")
        for part in name.split("/")
    ]
    return "/".join(p for p in parts if p)
