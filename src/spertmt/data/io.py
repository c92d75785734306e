"""Read and write SpERT JSON, JSON Lines and types files, validating every field.

A data file is either SpERT JSON (one list of documents) or JSON Lines (``.jsonl`` or
``.ndjson``: one document object per line). A document looks like::

    {"tokens": ["John", "lives", "in", "Paris", "."],
     "entities": [{"type": "Peop", "start": 0, "end": 1}, {"type": "Loc", "start": 3, "end": 4}],
     "relations": [{"type": "Live_In", "head": 0, "tail": 1}],
     "orig_id": 17}

``end`` is exclusive and ``head``/``tail`` index the document's ``entities``. ``entities`` and
``relations`` are required by default (gold data); pass ``require_annotations=False`` for
prediction input, where both may be absent (they are still validated when present).

Reading validates each document and raises :class:`~spertmt.errors.DataError` at the first
problem, naming the file, the line (JSON Lines), the document index and ``orig_id`` and the
field. Each problem has a stable code:

======  ==============================================================================
E101    the file cannot be read (missing, a folder, not UTF-8)
E102    invalid JSON (line and column given), too deep, or a lone surrogate escape
E103    the top level of a JSON file is not a list of documents
E104    a document is not a JSON object
E105    an entity's ``start``/``end`` lies outside the document's tokens
E106    a required key is missing (``tokens``, ``entities``, ``relations``, ``type``, ...)
E107    ``tokens`` is not a non-empty list of non-empty strings
E108    a field has the wrong type (e.g. ``start`` is a string, ``entities`` is not a list)
E109    an entity's ``end`` is not greater than its ``start`` (empty span)
E110    a relation's ``head``/``tail`` is not an index into ``entities``
E111    a relation's ``head`` equals its ``tail``
E112    an entity type that the types file does not declare
E113    a relation type that the types file does not declare
E114    a types file that is malformed (missing section, wrong value types)
E115    a file that cannot be written (unknown format, no permission, a full disk)
======  ==============================================================================

With ``skip_invalid=True`` bad documents are skipped instead and listed in a
:class:`ReadReport`. Duplicate entities (same type, start and end) and duplicate relations
(same type, head and tail once duplicate entities are merged) are removed, never kept twice,
and reported in the :class:`ReadReport` and by a logged warning.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import math
import os
import re
import signal
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from difflib import get_close_matches
from pathlib import Path
from types import TracebackType
from typing import IO, Any, BinaryIO, Literal

from spertmt.errors import DataError
from spertmt.schema import Document, Entity, EntityType, Relation, RelationType, TypeSchema

__all__ = [
    "DataFormat",
    "JsonLinesWriter",
    "ReadReport",
    "RemovedDuplicate",
    "SkippedDocument",
    "binary_lines",
    "count_complete_lines",
    "documents_to_text",
    "iter_documents",
    "json_lines",
    "open_binary",
    "parse_json_line",
    "partial_path",
    "read_documents",
    "read_text",
    "read_types",
    "write_documents",
    "write_text_atomic",
]

logger = logging.getLogger(__name__)

DataFormat = Literal["json", "jsonl"]
"""On-disk layout of a data file: one JSON list, or one JSON object per line."""

_SUFFIX_FORMATS: dict[str, DataFormat] = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}


# ------------------------------------------------------------------------------ reports


@dataclass(frozen=True)
class SkippedDocument:
    """A document left out by ``read_documents(..., skip_invalid=True)``.

    Attributes:
        index: Zero-based index of the document in the file.
        orig_id: The document's ``orig_id`` when it had one.
        code: The error code of the problem (``E105``, ...).
        message: The full error message (file, document, field and what is wrong).
        line: One-based line in a JSON Lines file; ``None`` for SpERT JSON.

    """

    index: int
    orig_id: Any
    code: str
    message: str
    line: int | None = None


@dataclass(frozen=True)
class RemovedDuplicate:
    """An entity or relation removed because the document already had it.

    Attributes:
        index: Zero-based index of the document in the file.
        orig_id: The document's ``orig_id`` when it had one.
        field: The removed item as it was numbered in the file, e.g. ``relations[4]``.
        reason: Which earlier item it repeats.

    """

    index: int
    orig_id: Any
    field: str
    reason: str

    @property
    def kind(self) -> Literal["entity", "relation"]:
        """``"entity"`` or ``"relation"``."""
        return "entity" if self.field.startswith("entities") else "relation"


@dataclass
class ReadReport:
    """What :func:`read_documents` kept, skipped and de-duplicated.

    Pass an empty report to :func:`read_documents`; it is filled in place.

    Attributes:
        path: The file that was read.
        read: Number of documents returned.
        skipped: Documents left out as invalid (only with ``skip_invalid=True``).
        duplicates: Entities and relations removed as duplicates.

    Example:
        >>> report = ReadReport()
        >>> docs = read_documents("conll04_train.json", report=report)  # doctest: +SKIP
        >>> print(report.summary())                                     # doctest: +SKIP
        conll04_train.json: read 922 documents

    """

    path: str | None = None
    read: int = 0
    skipped: list[SkippedDocument] = field(default_factory=list)
    duplicates: list[RemovedDuplicate] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Documents found in the file (read plus skipped)."""
        return self.read + len(self.skipped)

    @property
    def duplicate_entities(self) -> int:
        """Number of entities removed as duplicates."""
        return sum(1 for d in self.duplicates if d.kind == "entity")

    @property
    def duplicate_relations(self) -> int:
        """Number of relations removed as duplicates."""
        return sum(1 for d in self.duplicates if d.kind == "relation")

    def summary(self) -> str:
        """One line: documents read, skipped and duplicates removed."""
        parts = [f"read {self.read} documents"]
        if self.skipped:
            parts.append(f"skipped {len(self.skipped)} invalid")
        if self.duplicates:
            parts.append(
                f"removed {self.duplicate_entities} duplicate entities and "
                f"{self.duplicate_relations} duplicate relations"
            )
        return f"{self.path}: " + ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary."""
        return {
            "path": self.path,
            "read": self.read,
            "skipped": [asdict(s) for s in self.skipped],
            "duplicates": [asdict(d) for d in self.duplicates],
        }


# --------------------------------------------------------------------------------- types


def read_types(path: str | Path) -> TypeSchema:
    """Read a SpERT types file (``<name>_types.json``).

    The file maps entity and relation type names to their descriptions::

        {"entities": {"Peop": {"short": "Peop", "verbose": "People"}},
         "relations": {"Kill": {"short": "Kill", "verbose": "Kill", "symmetric": false}}}

    ``short`` and ``verbose`` default to the name and ``symmetric`` to ``false``. The order of
    the types in the file fixes the model's class indices.

    Args:
        path: The types file.

    Returns:
        The declared types, in file order.

    Raises:
        DataError: E101 if the file cannot be read, E102 for invalid JSON, E114 for a missing
            ``entities``/``relations`` section, no entity types or a value of the wrong type.

    Example:
        >>> types = read_types("data/conll04/conll04_types.json")  # doctest: +SKIP
        >>> types.entity_names                                      # doctest: +SKIP
        ('Loc', 'Org', 'Peop', 'Other')

    """
    path = Path(path)
    data = _load_json(path)
    if not isinstance(data, dict):
        raise _types_error(
            path,
            None,
            f"the top level is {_describe(data)}, expected an object with "
            "'entities' and 'relations'",
        )
    for section in ("entities", "relations"):
        if section not in data:
            raise _types_error(
                path,
                section,
                f"missing section '{section}'; add "
                f'"{section}": {{NAME: {{"short": ..., "verbose": ...}}}} (it may be empty '
                "only for relations)",
            )
        if not isinstance(data[section], dict):
            raise _types_error(
                path,
                section,
                f"must be an object mapping type names to descriptions, got "
                f"{_describe(data[section])}",
            )
    if not data["entities"]:
        raise _types_error(path, "entities", "declares no entity types; add at least one")

    entity_types = []
    for name, spec in data["entities"].items():
        short, verbose = _type_texts(path, "entities", name, spec)
        entity_types.append(EntityType(name, short, verbose))
    relation_types = []
    for name, spec in data["relations"].items():
        short, verbose = _type_texts(path, "relations", name, spec)
        symmetric = spec.get("symmetric", False)
        if not isinstance(symmetric, bool):
            raise _types_error(
                path,
                f"relations.{name}.symmetric",
                f"must be true or false, got {_describe(symmetric)}",
            )
        relation_types.append(RelationType(name, short, verbose, symmetric))
    return TypeSchema(tuple(entity_types), tuple(relation_types))


def _type_texts(path: Path, section: str, name: str, spec: Any) -> tuple[str, str]:
    if not name:
        raise _types_error(path, section, "has a type with an empty name")
    if not isinstance(spec, dict):
        raise _types_error(
            path,
            f"{section}.{name}",
            f'must be an object like {{"short": ..., "verbose": ...}}, got {_describe(spec)}',
        )
    texts = []
    for key in ("short", "verbose"):
        value = spec.get(key, name)
        if not isinstance(value, str):
            raise _types_error(
                path, f"{section}.{name}.{key}", f"must be a string, got {_describe(value)}"
            )
        texts.append(value)
    return texts[0], texts[1]


def _types_error(path: Path, field_: str | None, message: str) -> DataError:
    return DataError(f"invalid types file: {message}", code="E114", file=path, field=field_)


# ----------------------------------------------------------------------------- documents


def _reader(
    path: str | Path,
    format: DataFormat | None,
    types: TypeSchema | None,
    require_annotations: bool,
    types_of_model: bool,
) -> tuple[Path, DataFormat, _DocumentParser, ReadReport]:
    """What both readers start from.

    The path, its format (E115 for an unknown one), the document parser for ``types`` and an
    empty report.
    """
    path = Path(path)
    fmt = format or _SUFFIX_FORMATS.get(path.suffix.lower(), "json")
    if fmt not in ("json", "jsonl"):
        raise DataError(f"unknown format {fmt!r}; use 'json' or 'jsonl'", code="E115", file=path)
    parser = _DocumentParser(
        entity_types=None if types is None else frozenset(types.entity_names),
        relation_types=None if types is None else frozenset(types.relation_names),
        require_annotations=require_annotations,
        types_of_model=types_of_model,
    )
    return path, fmt, parser, ReadReport(path=str(path))


def read_documents(
    path: str | Path,
    *,
    types: TypeSchema | None = None,
    skip_invalid: bool = False,
    report: ReadReport | None = None,
    require_annotations: bool = True,
    format: DataFormat | None = None,
    types_of_model: bool = False,
) -> list[Document]:
    """Read and validate documents from SpERT JSON or JSON Lines.

    Args:
        path: The data file. ``.jsonl``/``.ndjson`` files are read as JSON Lines, anything
            else as SpERT JSON, unless ``format`` says otherwise.
        types: When given, every entity and relation type must be declared in it.
        types_of_model: ``types`` are a model's (relation-only prediction), not a types file:
            an undeclared type is then named as one the model does not know.
        skip_invalid: Skip invalid documents and list them in ``report`` instead of raising
            at the first one. Problems with the file as a whole (unreadable, invalid JSON in
            a SpERT JSON file, a top level that is not a list) still raise.
        report: Filled in place with the counts, the skipped documents and the removed
            duplicates (its previous contents are replaced). Without a report, skipped
            documents and removed duplicates are logged as warnings (``spertmt.data.io``).
        require_annotations: Require the ``entities`` and ``relations`` keys (gold data).
            ``False`` lets them be absent, e.g. for prediction input; present ones are still
            validated.
        format: ``"json"`` or ``"jsonl"``; ``None`` decides by the file suffix.

    Returns:
        The documents, in file order, with duplicates removed.

    Raises:
        DataError: At the first invalid document (codes E101-E113, see the module docs), or
            for a file that cannot be read or parsed even with ``skip_invalid``.

    Example:
        >>> types = read_types("conll04_types.json")                     # doctest: +SKIP
        >>> docs = read_documents("conll04_train.json", types=types)     # doctest: +SKIP
        >>> len(docs), docs[0].entities[0]                               # doctest: +SKIP
        (922, Entity(type='Loc', start=0, end=1, ...))

    """
    path, fmt, parser, result = _reader(path, format, types, require_annotations, types_of_model)
    docs = [doc for _, _, doc in _documents(path, fmt, parser, result, skip_invalid=skip_invalid)]
    result.read = len(docs)
    _log_report(result, shown_by_caller=report is not None)
    if report is not None:
        report.path, report.read = result.path, result.read
        report.skipped[:] = result.skipped
        report.duplicates[:] = result.duplicates
    return docs


def iter_documents(
    path: str | Path,
    *,
    types: TypeSchema | None = None,
    require_annotations: bool = True,
    format: DataFormat | None = None,
    types_of_model: bool = False,
    handle: BinaryIO | None = None,
) -> Iterator[tuple[int, int | None, Document]]:
    """Read and validate documents one at a time: JSON Lines stream, memory stays bounded.

    The streaming form of :func:`read_documents` (same options, same checks, same errors,
    raised when the reader reaches the document). A JSON Lines file is read line by line, so
    a file of millions of documents needs memory for one line only; a SpERT JSON file is one
    JSON value and is parsed whole.

    Args:
        path: The data file.
        types: When given, every entity and relation type must be declared in it.
        require_annotations: Require the ``entities`` and ``relations`` keys.
        format: ``"json"`` or ``"jsonl"``; ``None`` decides by the file suffix.
        types_of_model: ``types`` are a model's, as in :func:`read_documents`.
        handle: Read JSON Lines from this open binary stream (e.g. standard input) instead
            of opening ``path``, which then only names it in messages.

    Yields:
        ``(document index, line or None, document)`` in file order; the line is the
        one-based line of a JSON Lines document (``None`` in SpERT JSON).

    Raises:
        DataError: At the first invalid document (codes E101-E113).

    Example:
        >>> for index, line, doc in iter_documents("corpus.jsonl", require_annotations=False):
        ...     print(index, doc.tokens)  # doctest: +SKIP

    """
    path, fmt, parser, result = _reader(path, format, types, require_annotations, types_of_model)
    for item in _documents(path, fmt, parser, result, skip_invalid=False, handle=handle):
        result.read += 1
        yield item
    _log_report(result, shown_by_caller=False)


def _documents(
    path: Path,
    fmt: DataFormat,
    parser: _DocumentParser,
    result: ReadReport,
    *,
    skip_invalid: bool,
    handle: BinaryIO | None = None,
) -> Iterator[tuple[int, int | None, Document]]:
    """Parse each raw document; skip (into ``result``) or raise the invalid ones."""
    skips = result if skip_invalid else None
    for index, line, raw in _raw_documents(path, fmt, skips, handle=handle):
        orig_id = raw.get("orig_id") if isinstance(raw, dict) else None
        try:
            doc, duplicates = parser.parse(raw)
        except _Invalid as problem:
            error = DataError(
                problem.message,
                code=problem.code,
                file=path,
                doc_index=index,
                orig_id=orig_id,
                field=problem.field,
                line=line,
            )
            if not skip_invalid:
                raise error from None
            result.skipped.append(SkippedDocument(index, orig_id, error.code, str(error), line))
            continue
        for field_, reason in duplicates:
            result.duplicates.append(RemovedDuplicate(index, orig_id, field_, reason))
        yield index, line, doc


def _log_report(result: ReadReport, *, shown_by_caller: bool) -> None:
    """Log what reading skipped and de-duplicated (INFO when the caller shows the report)."""
    path = result.path
    # A caller that passes a report shows it itself; otherwise the log is where it is seen.
    level = logging.INFO if shown_by_caller else logging.WARNING
    if result.skipped:
        first = result.skipped[0]
        logger.log(
            level,
            "%s: skipped %d invalid documents (first: %s)",
            path,
            len(result.skipped),
            first.message,
        )
    if result.duplicates:
        first_dup = result.duplicates[0]
        logger.log(
            level,
            "%s: removed %d duplicate entities and %d duplicate relations (first: document "
            "%d, %s: %s)",
            path,
            result.duplicate_entities,
            result.duplicate_relations,
            first_dup.index,
            first_dup.field,
            first_dup.reason,
        )


def _raw_documents(
    path: Path, fmt: DataFormat, skips: ReadReport | None, *, handle: BinaryIO | None = None
) -> Iterable[tuple[int, int | None, Any]]:
    """Yield ``(document index, line or None, parsed JSON value)`` for each document.

    With ``skips`` set, JSON Lines lines that are not valid JSON are recorded there and
    skipped; a SpERT JSON file is one value, so invalid JSON always raises.
    """
    if fmt == "json":
        data = _parse_json(path, read_text(path))
        if not isinstance(data, list):
            hint = "; a single document must be wrapped in [...]" if isinstance(data, dict) else ""
            raise DataError(
                f"the top level is {_describe(data)}, expected a list of documents{hint}",
                code="E103",
                file=path,
            )
        for index, raw in enumerate(data):
            yield index, None, raw
        return
    index = 0
    # Lines end at LF, CRLF or a lone CR only: str.splitlines() would also cut at U+2028,
    # U+0085 and other characters that JSON strings may hold unescaped. Read a line at a
    # time, so that a corpus needs memory for one line, not the file.
    for line_number, line in _text_lines(path, handle):
        if not line.strip():
            continue  # blank lines (often a trailing newline) hold no document
        try:
            raw = parse_json_line(path, line, line=line_number, doc_index=index)
        except DataError as error:
            if skips is None:
                raise
            skips.skipped.append(SkippedDocument(index, None, error.code, str(error), line_number))
        else:
            yield index, line_number, raw
        index += 1


def parse_json_line(
    path: Path,
    text: str,
    *,
    line: int,
    doc_index: int | None = None,
    hint: str = "each line must hold one complete JSON document",
) -> Any:
    """The JSON value of one line of a JSON Lines file.

    Args:
        path: The file, for the error.
        text: The line.
        line: Its one-based number, for the error.
        doc_index: The document it holds, for the error (``None``: not counted).
        hint: What a line must hold, ending the error.

    Raises:
        DataError: E102 for text that is not JSON, nested thousands of levels deep, an
            integer longer than Python reads or a lone surrogate, naming file, line and column.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        what = f"invalid JSON at column {error.colno}: {error.msg}"
    except RecursionError:
        what = _TOO_DEEP
    except ValueError:
        what = _too_long_integer()
    else:
        _refuse_lone_surrogates(path, text, value, line=line, doc_index=doc_index)
        return value
    raise DataError(f"{what}; {hint}", code="E102", file=path, doc_index=doc_index, line=line)


def json_lines(path: Path, hint: str) -> Iterator[tuple[int, Any]]:
    """The JSON value of each non-blank line of a JSON Lines file, with its line number.

    Lines end at LF, CRLF or a lone CR (not at U+2028 or U+0085, which JSON strings may hold),
    and the file is read a block at a time.

    Args:
        path: The file.
        hint: What the file should hold, ending the error of a line that is not JSON
            (``"DyGIE files hold one JSON document per line"``).

    Raises:
        DataError: E101 for a file that cannot be read as UTF-8 text; E102 for a line that is
            not JSON (:func:`parse_json_line`), naming the file, the line and the column.
    """
    for number, line in _text_lines(path):
        if line.strip():
            yield number, parse_json_line(path, line, line=number, hint=hint)


class _Invalid(Exception):
    """One problem in one document; the reader adds file, document and line."""

    def __init__(self, code: str, field: str | None, message: str) -> None:
        super().__init__(message)
        self.code, self.field, self.message = code, field, message


class _DocumentParser:
    """Validate one raw JSON document and build its :class:`Document`."""

    def __init__(
        self,
        *,
        entity_types: frozenset[str] | None,
        relation_types: frozenset[str] | None,
        require_annotations: bool,
        types_of_model: bool = False,
    ) -> None:
        self.entity_types = entity_types
        self.relation_types = relation_types
        self.require_annotations = require_annotations
        self.types_of_model = types_of_model

    def parse(self, raw: Any) -> tuple[Document, list[tuple[str, str]]]:
        """Return the document and its removed duplicates as ``(field, reason)`` pairs."""
        if not isinstance(raw, dict):
            raise _Invalid(
                "E104",
                None,
                f"a document must be a JSON object with 'tokens', 'entities' and "
                f"'relations', got {_describe(raw)}",
            )
        tokens = self._tokens(raw)
        duplicates: list[tuple[str, str]] = []
        entities, remap = self._entities(raw, len(tokens), duplicates)
        relations = self._relations(raw, remap, duplicates)
        text = raw.get("text")
        if text is not None and not isinstance(text, str):
            raise _Invalid("E108", "text", f"must be a string, got {_describe(text)}")
        doc = Document(
            tokens=tuple(tokens),
            entities=entities,
            relations=relations,
            orig_id=raw.get("orig_id"),
            text=text,
        )
        return doc, duplicates

    @staticmethod
    def _tokens(raw: dict[str, Any]) -> list[str]:
        if "tokens" not in raw:
            raise _Invalid("E106", "tokens", "missing key 'tokens' (the list of words)")
        tokens = raw["tokens"]
        if not isinstance(tokens, list):
            raise _Invalid("E107", "tokens", f"must be a list of words, got {_describe(tokens)}")
        if not tokens:
            raise _Invalid("E107", "tokens", "is empty; a document needs at least one word")
        for i, token in enumerate(tokens):
            if type(token) is not str:
                raise _Invalid(
                    "E107", f"tokens[{i}]", f"a token must be a string, got {_describe(token)}"
                )
            # Encoders turn blank words into zero sub-word pieces, which breaks the
            # word-to-piece alignment; reject them here rather than deep in training.
            if not token.strip():
                raise _Invalid(
                    "E107",
                    f"tokens[{i}]",
                    f"token {token!r} is empty or only whitespace; "
                    "remove it (and shift the spans after it) or replace it with a word",
                )
        return tokens

    def _section(self, raw: dict[str, Any], key: str) -> list[Any]:
        if key not in raw:
            if self.require_annotations:
                raise _Invalid(
                    "E106", key, f"missing key '{key}'; gold data needs it (use [] for none)"
                )
            return []
        value = raw[key]
        if not isinstance(value, list):
            raise _Invalid("E108", key, f"must be a list, got {_describe(value)}")
        return value

    def _entities(
        self, raw: dict[str, Any], n_tokens: int, duplicates: list[tuple[str, str]]
    ) -> tuple[tuple[Entity, ...], list[int]]:
        """Return the unique entities and, per entity in the file, its index among them."""
        items = self._section(raw, "entities")
        entities: list[Entity] = []
        remap: list[int] = []
        # (type, start, end) -> (index among the unique entities, index in the file)
        first_index: dict[tuple[str, int, int], tuple[int, int]] = {}
        for i, item in enumerate(items):
            where = f"entities[{i}]"
            if not isinstance(item, dict):
                raise _Invalid(
                    "E108",
                    where,
                    f'must be an object {{"type", "start", "end"}}, got {_describe(item)}',
                )
            type_, start, end = (_required(item, key, where) for key in ("type", "start", "end"))
            _check_name(type_, f"{where}.type")
            _check_int(start, f"{where}.start")
            _check_int(end, f"{where}.end")
            if not 0 <= start < n_tokens:
                raise _Invalid(
                    "E105",
                    f"{where}.start",
                    f"start {start} is outside the document's "
                    f"{n_tokens} tokens (valid: 0 to {n_tokens - 1})",
                )
            if end > n_tokens:
                raise _Invalid(
                    "E105",
                    f"{where}.end",
                    f"end {end} is beyond the {n_tokens} tokens (end is "
                    f"exclusive, so at most {n_tokens})",
                )
            if end <= start:
                raise _Invalid(
                    "E109",
                    f"{where}.end",
                    f"end {end} must be greater than start {start} (end "
                    f"is exclusive: a one-word entity at word {start} has end {start + 1})",
                )
            if self.entity_types is not None and type_ not in self.entity_types:
                raise _Invalid(
                    "E112",
                    f"{where}.type",
                    _undeclared("entity", type_, self.entity_types, self.types_of_model),
                )
            key = (type_, start, end)
            if key in first_index:
                unique_index, file_index = first_index[key]
                remap.append(unique_index)
                duplicates.append((where, f"same type, start and end as entities[{file_index}]"))
                continue
            first_index[key] = (len(entities), i)
            remap.append(len(entities))
            entities.append(
                Entity(
                    type_,
                    start,
                    end,
                    score=_optional_number(item, "score", where),
                    char_start=_optional_int(item, "char_start", where),
                    char_end=_optional_int(item, "char_end", where),
                    text=_optional_str(item, "text", where),
                )
            )
        return tuple(entities), remap

    def _relations(
        self, raw: dict[str, Any], remap: list[int], duplicates: list[tuple[str, str]]
    ) -> tuple[Relation, ...]:
        items = self._section(raw, "relations")
        n_entities = len(remap)
        relations: list[Relation] = []
        first_index: dict[tuple[str, int, int], int] = {}
        for j, item in enumerate(items):
            where = f"relations[{j}]"
            if not isinstance(item, dict):
                raise _Invalid(
                    "E108",
                    where,
                    f'must be an object {{"type", "head", "tail"}}, got {_describe(item)}',
                )
            type_, head, tail = (_required(item, key, where) for key in ("type", "head", "tail"))
            _check_name(type_, f"{where}.type")
            for end_name, value in (("head", head), ("tail", tail)):
                _check_int(value, f"{where}.{end_name}")
                if not 0 <= value < n_entities:
                    valid = f"0 to {n_entities - 1}" if n_entities else "none"
                    raise _Invalid(
                        "E110",
                        f"{where}.{end_name}",
                        f"{end_name} {value} is not an index into the "
                        f"document's {n_entities} entities (valid: {valid})",
                    )
            if head == tail:
                raise _Invalid(
                    "E111",
                    f"{where}.tail",
                    f"head and tail are both entity {head}; a relation "
                    "links two different entities",
                )
            if self.relation_types is not None and type_ not in self.relation_types:
                raise _Invalid(
                    "E113",
                    f"{where}.type",
                    _undeclared("relation", type_, self.relation_types, self.types_of_model),
                )
            new_head, new_tail = remap[head], remap[tail]
            if new_head == new_tail:
                # Both ends are copies of one entity: after merging them the relation would
                # link an entity to itself, which no model can predict.
                duplicates.append(
                    (where, f"links entities[{head}] and entities[{tail}], which are duplicates")
                )
                continue
            key = (type_, new_head, new_tail)
            if key in first_index:
                duplicates.append(
                    (where, f"same type, head and tail as relations[{first_index[key]}]")
                )
                continue
            first_index[key] = j
            relations.append(
                Relation(type_, new_head, new_tail, score=_optional_number(item, "score", where))
            )
        return tuple(relations)


def _required(item: dict[str, Any], key: str, where: str) -> Any:
    if key not in item:
        raise _Invalid("E106", f"{where}.{key}", f"missing key '{key}'")
    return item[key]


def _check_name(value: Any, where: str) -> None:
    if not isinstance(value, str) or not value:
        raise _Invalid("E108", where, f"a type must be a non-empty string, got {_describe(value)}")


def _check_int(value: Any, where: str) -> None:
    # bool is an int subclass; true/false as an index is a data bug, not an index.
    if type(value) is not int:
        raise _Invalid("E108", where, f"must be an integer, got {_describe(value)}")


def _optional_number(item: dict[str, Any], key: str, where: str) -> float | None:
    value = item.get(key)
    if value is None:
        return None
    if type(value) not in (int, float):
        raise _Invalid("E108", f"{where}.{key}", f"must be a number, got {_describe(value)}")
    if not math.isfinite(value):  # JSON's NaN and Infinity extensions
        raise _Invalid("E108", f"{where}.{key}", f"must be a finite number, got {value}")
    return float(value)


def _optional_int(item: dict[str, Any], key: str, where: str) -> int | None:
    value = item.get(key)
    if value is not None:
        _check_int(value, f"{where}.{key}")
    return value


def _optional_str(item: dict[str, Any], key: str, where: str) -> str | None:
    value = item.get(key)
    if value is not None and not isinstance(value, str):
        raise _Invalid("E108", f"{where}.{key}", f"must be a string, got {_describe(value)}")
    return value


def _undeclared(kind: str, name: str, declared: frozenset[str], of_model: bool = False) -> str:
    where = "the model's types" if of_model else "the types file"
    message = f"{kind} type {name!r} is not declared in {where}"
    close = get_close_matches(name, declared, n=1)
    if close:
        message += f"; did you mean {close[0]!r}?"
    known = ", ".join(sorted(declared)) or "none"
    if of_model:
        return (
            f"{message} (it knows: {known}); the model predicts only the types it was trained "
            "with: use one of them, or a model trained with this type"
        )
    return f"{message} (declared: {known}); fix the type or add it to the types file"


def _describe(value: Any) -> str:
    """Short description of a JSON value for error messages: ``'3' (a string)``."""
    names = {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        type(None): "null",
    }
    kind = names.get(type(value), type(value).__name__)
    if value is None:
        return "null"
    if isinstance(value, dict | list):
        return kind
    shown = json.dumps(value, ensure_ascii=False)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return f"{shown} ({kind})"


def open_binary(path: str | Path, what: str = "a JSON or JSON Lines file") -> BinaryIO:
    """Open a data file for reading bytes; the errors of a missing or unreadable file.

    Raises:
        DataError: E101 for a missing file, a folder or a file that cannot be read.
    """
    try:
        return Path(path).open("rb")  # noqa: SIM115 - the caller closes it
    except FileNotFoundError:
        raise DataError("file not found; check the path", code="E101", file=path) from None
    except IsADirectoryError:
        raise DataError(f"is a folder, expected {what}", code="E101", file=path) from None
    except OSError as error:
        raise _unreadable(path, error) from None


def _unreadable(path: str | Path, error: OSError) -> DataError:
    return DataError(f"cannot be read: {error.strerror or error}", code="E101", file=path)


_LINE_BREAK_BYTES = re.compile(rb"\r\n|\n|\r")
_LINE_BLOCK = 1 << 20
"""Bytes read at a time by :func:`binary_lines` (more for a longer line)."""


def binary_lines(handle: BinaryIO) -> Iterator[tuple[int, int, bytes]]:
    r"""Split a byte stream into lines at LF, CRLF or a lone CR, reading a block at a time.

    Memory holds one block and the longest line, whatever the stream's size. A final line
    break ends the last line; it does not start an empty one.

    Yields:
        ``(one-based line number, byte offset of the line in the stream, line without its
        line break)``.

    Example:
        >>> import io
        >>> [line for _, _, line in binary_lines(io.BytesIO(b"a\r\nb\rc\n\nd"))]
        [b'a', b'b', b'c', b'', b'd']
    """
    buffer, offset, number = b"", 0, 0
    while True:
        # A line longer than the buffer doubles the read, so long lines cost linear time.
        block = handle.read(max(_LINE_BLOCK, len(buffer)))
        final = not block
        buffer += block
        start = 0
        for match in _LINE_BREAK_BYTES.finditer(buffer):
            if not final and match.end() == len(buffer) and match.group() == b"\r":
                break  # perhaps the first half of a CRLF split between two blocks
            number += 1
            yield number, offset + start, buffer[start : match.start()]
            start = match.end()
        offset += start
        buffer = buffer[start:]
        if final:
            if buffer:
                yield number + 1, offset, buffer
            return


def _text_lines(path: Path, handle: BinaryIO | None = None) -> Iterator[tuple[int, str]]:
    """The UTF-8 lines of a file (or of ``handle``), a block at a time; a BOM is dropped."""
    with contextlib.nullcontext(handle) if handle is not None else open_binary(path) as stream:
        for number, offset, data in binary_lines(stream):
            try:
                line = data.decode("utf-8")
            except UnicodeDecodeError as error:
                raise DataError(
                    f"is not UTF-8 text (byte {offset + error.start}: {error.reason}); save it "
                    "as UTF-8",
                    code="E101",
                    file=path,
                    line=number,
                ) from None
            yield number, line.removeprefix("\ufeff") if number == 1 else line


def read_text(
    path: Path,
    what: str = "a JSON or JSON Lines file",
    *,
    newline: str | None = None,
    bom: bool = True,
) -> str:
    r"""A UTF-8 text file, whole.

    Args:
        path: The file.
        what: What the file should be, for the error when it is a folder.
        newline: ``open``'s: ``None`` reads line breaks as ``\n``; ``""`` keeps ``\r\n``
            (brat counts it as two characters of its offsets).
        bom: Drop a leading byte-order mark (some Windows editors write one); off where
            offsets count it.

    Raises:
        DataError: E101 for a missing file, a folder, bytes that are not UTF-8 or a file that
            cannot be read, naming the file.
    """
    with open_binary(path, what) as handle:
        try:
            data = handle.read()
        except OSError as error:
            raise _unreadable(path, error) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(
            f"is not UTF-8 text (byte {error.start}: {error.reason}); save it as UTF-8",
            code="E101",
            file=path,
        ) from None
    if bom:
        text = text.removeprefix("\ufeff")
    if newline is None:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


_TOO_DEEP = (
    "invalid JSON: nested too deeply to be a SpERT document (lists and objects inside each "
    "other thousands of levels deep)"
)


def _parse_json(path: Path, text: str) -> Any:
    if not text.strip():
        raise DataError("the file is empty; expected JSON", code="E102", file=path)
    try:
        value = json.loads(text)
        _refuse_lone_surrogates(path, text, value)
        return value
    except RecursionError:
        raise DataError(_TOO_DEEP, code="E102", file=path) from None
    except json.JSONDecodeError as error:
        hint = ""
        if error.msg == "Extra data" and error.lineno > 1:
            hint = "; this looks like JSON Lines: name the file *.jsonl"
        raise DataError(
            f"invalid JSON at column {error.colno}: {error.msg}{hint}",
            code="E102",
            file=path,
            line=error.lineno,
        ) from None
    except ValueError:  # after JSONDecodeError, its subclass: an integer Python does not read
        raise DataError(_too_long_integer(), code="E102", file=path) from None


def _too_long_integer() -> str:
    # json.loads raises a plain ValueError only for an integer literal over Python's limit.
    return (
        f"invalid JSON: an integer of more than {sys.get_int_max_str_digits()} digits, more "
        "than Python reads (no offset or count is that long)"
    )


def _load_json(path: Path) -> Any:
    return _parse_json(path, read_text(path))


# A \u escape of a UTF-16 surrogate: the only way a lone surrogate gets into decoded JSON.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _refuse_lone_surrogates(
    path: Path, text: str, value: Any, *, line: int | None = None, doc_index: int | None = None
) -> None:
    r"""E102 for a string (or key) holding a lone surrogate (``"\ud800"`` without its pair).

    JSON allows the escape, but the string is not valid Unicode: it cannot be written back
    as UTF-8, tokenised or printed. Checked only when the text holds such an escape. In a
    SpERT JSON list the message names the document; the field is the path inside it.
    """
    if _SURROGATE_ESCAPE.search(text) is None:
        return
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, dict):
            for key, inner in item.items():
                stack.append(((*where, key), key))
                stack.append(((*where, key), inner))
        elif isinstance(item, list):
            stack.extend(((*where, i), inner) for i, inner in reversed(list(enumerate(item))))
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as error:
                point = ord(item[error.start])
                if doc_index is None and isinstance(value, list) and where:
                    doc_index, where = int(where[0]), where[1:]
                field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in where)
                raise DataError(
                    f"invalid JSON: a string holds the lone surrogate U+{point:04X} (a \\u "
                    "escape without its pair), which is not valid Unicode; fix the encoding "
                    "of the file",
                    code="E102",
                    file=path,
                    line=line,
                    doc_index=doc_index,
                    field=field.lstrip(".") or None,
                ) from None


# ------------------------------------------------------------------------------- writing


def write_documents(
    path: str | Path,
    docs: Iterable[Document],
    *,
    format: DataFormat | None = None,
) -> int:
    """Write documents as SpERT JSON or JSON Lines, atomically.

    SpERT JSON is written one document per line inside the list, so files stay readable and
    diff well. Text is UTF-8 with non-ASCII characters kept as they are. The file is first
    written beside its destination and then moved into place, so a crash never leaves a
    half-written file. Missing parent folders are created.

    Args:
        path: Destination file.
        docs: The documents.
        format: ``"json"`` or ``"jsonl"``; ``None`` decides by the suffix (``.json``,
            ``.jsonl``, ``.ndjson``).

    Returns:
        The number of documents written.

    Raises:
        DataError: E115 if the format is unknown or the file cannot be written.

    Example:
        >>> from spertmt.schema import Document
        >>> write_documents("out.jsonl", [Document(("Hello", "world"))])  # doctest: +SKIP
        1

    """
    path = Path(path)
    fmt = format or _SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt not in ("json", "jsonl"):
        raise DataError(
            f"cannot tell the format from the suffix {path.suffix!r}; name the file *.json "
            "or *.jsonl, or pass format='json' or 'jsonl'",
            code="E115",
            file=path,
        )
    docs = list(docs)
    write_text_atomic(path, documents_to_text(docs, fmt))
    return len(docs)


def documents_to_text(docs: Iterable[Document], format: DataFormat) -> str:
    """Serialise documents as SpERT JSON (one document per line in the list) or JSON Lines.

    Args:
        docs: The documents.
        format: ``"json"`` or ``"jsonl"``.

    Returns:
        The text, ending with a line break.

    Example:
        >>> from spertmt.schema import Document
        >>> print(documents_to_text([Document(("Hi",))], "jsonl"), end="")
        {"tokens": ["Hi"], "entities": [], "relations": []}

    """
    # U+2028/U+2029 and U+0085 (NEL) are valid inside JSON strings but are line breaks to
    # str.splitlines() and to many line-based tools; escaped, every document stays on exactly
    # one line. (json.dumps escapes the other line breaks, all below U+0020, itself.)
    lines = [
        json.dumps(doc.to_dict(), ensure_ascii=False)
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
        .replace("\x85", "\\u0085")
        for doc in docs
    ]
    if format == "jsonl":
        return "".join(line + "\n" for line in lines)
    return "[\n" + ",\n".join(lines) + "\n]\n" if lines else "[]\n"


def _read_umask() -> int:
    mask = os.umask(0o022)  # imports run one at a time: setting and restoring is safe here
    os.umask(mask)
    return mask


_UMASK_AT_IMPORT = _read_umask()


def current_umask() -> int:
    """The process's file-mode creation mask (read without changing it where Linux allows)."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return _UMASK_AT_IMPORT  # elsewhere: as it was when spertmt was imported


def share_like_a_new_file(path: str | Path, *, replaces: str | Path | None = None) -> None:
    """Give a file written through a temporary name the mode a plain ``open`` would give it.

    Temporary files are created ``0600``; a model or predictions file renamed into place must
    be readable by the others the umask lets read it (another user, another container). When
    it replaces an existing file, it keeps that file's mode instead. Best effort: filesystems
    without modes (vfat, some network mounts) refuse chmod, and the write still succeeds.
    """
    try:
        mode = os.stat(replaces).st_mode & 0o777 if replaces is not None else None
    except OSError:
        mode = None
    try:
        os.chmod(path, mode if mode is not None else 0o666 & ~current_umask())
    except OSError:
        pass


def sha256_file(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks (files of any size).

    Example:
        >>> sha256_file("conll04_test.json")[:12]  # doctest: +SKIP
        '9a4f0c1d3e2b'
    """
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def check_output_writable(path: str | Path, *, inputs: Iterable[str | Path] = ()) -> None:
    """Prove that ``path`` can be written, before the work that produces it starts.

    Creates missing parent folders and writes (then removes) a probe file beside ``path``.

    Args:
        path: The output file.
        inputs: The files the work reads: the output must be none of them (also through a
            link or another spelling of the path).

    Raises:
        DataError: E115 when ``path`` is a folder, one of ``inputs``, or its folder cannot be
            written.
    """
    path = Path(path)
    if path.is_dir():
        raise DataError("is a folder; give a file name for the output", code="E115", file=path)
    for source in inputs:
        if str(source) != "-" and same_file(path, Path(source)):
            raise DataError(
                f"is the input ({source}) too: writing it would replace what is being read; "
                "give another output file",
                code="E115",
                file=path,
            )
    probe = path.parent / f".{path.name}.write-check"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise _cannot_write(path, error) from None


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file or folder, through links or other spellings.

    False when either does not exist (yet).
    """
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): then they differ
        return False


def _cannot_write(path: Path, error: OSError) -> DataError:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = "free some space on that disk or write the output elsewhere"
    else:
        fix = "check the folder exists and is writable"
    return DataError(f"cannot be written: {error.strerror or error}; {fix}", code="E115", file=path)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back until the block has ended.

    For the few steps that must not stop half-way, such as the two renames that swap a
    checkpoint folder in. A SIGINT or SIGTERM that arrives during the block is delivered again,
    to the handler that was in place, as soon as the block ends. In a thread other than the
    main one (where Python runs signal handlers), and for a signal whose handler Python did not
    install, it changes nothing.

    Example:
        >>> with signals_deferred():
        ...     pass  # a Ctrl-C here would be raised after this line
    """
    held: list[int] = []
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGINT, signal.SIGTERM):
            handler = signal.getsignal(number)
            if handler is not None:
                previous[number] = signal.signal(number, lambda got, _frame: held.append(got))
    try:
        yield
    finally:
        for signal_number, handler in previous.items():
            signal.signal(signal_number, handler)
        for got in dict.fromkeys(held):
            signal.raise_signal(got)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write UTF-8 text to ``path`` through a temporary file and :func:`os.replace`.

    The text is written as it is (no newline translation on any platform).

    Args:
        path: Destination file; missing parent folders are created.
        text: The content.

    Raises:
        DataError: E115 if the file cannot be written.

    """
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary sibling file and :func:`os.replace`.

    A reader sees the old file or the new one, never half of it; an error, Ctrl-C or SIGTERM
    half-way leaves the old file and no temporary.

    Args:
        path: Destination file; missing parent folders are created.
        data: The content.

    Raises:
        DataError: E115 if the file cannot be written.

    """
    path = Path(path)
    tmp_name: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        share_like_a_new_file(tmp_name, replaces=path)
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as error:
        raise _cannot_write(path, error) from None
    finally:
        if tmp_name is not None:
            Path(tmp_name).unlink(missing_ok=True)


def partial_path(path: str | Path) -> Path:
    """Where :class:`JsonLinesWriter` writes ``path`` until the last document is written.

    Example:
        >>> partial_path("out/predictions.jsonl").as_posix()
        'out/predictions.jsonl.partial'
    """
    path = Path(path)
    return path.with_name(path.name + ".partial")


class JsonLinesWriter:
    """Write JSON Lines documents chunk by chunk, so a stopped run keeps what it finished.

    Documents go to :func:`partial_path` (``OUT.partial``), one complete line each: every
    chunk is written, flushed and synced to disk before :meth:`write` returns, and a chunk
    that fails or is interrupted midway (Ctrl-C, a full disk) is cut back off, so the file
    only ever holds whole lines of finished documents. :meth:`commit` renames it to ``path``
    (atomically, so ``path`` appears only complete and an older ``path`` stays until then).
    A run that stops early leaves ``OUT.partial`` with every document written so far, in
    input order; the next writer of the same ``path`` starts it over.

    With ``resume=True`` the writer continues an ``OUT.partial`` left by a stopped run
    instead: a line that a ``kill -9`` cut in the middle of its write is cut back off, and
    :attr:`documents` starts at the number of complete lines kept (the documents done).

    Args:
        path: The final file.
        resume: Continue ``OUT.partial`` (created empty if it does not exist).

    Raises:
        DataError: ``E115`` when the file cannot be created or written (no permission, a
            full disk): from the constructor, :meth:`write` or :meth:`commit`.

    Example:
        >>> from spertmt.schema import Document
        >>> with JsonLinesWriter("out.jsonl") as writer:                # doctest: +SKIP
        ...     writer.write([Document(("Hello", "world"))])
        ...     writer.commit()
        >>> writer.documents                                            # doctest: +SKIP
        1
    """

    def __init__(self, path: str | Path, *, resume: bool = False) -> None:
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.documents = 0
        self.committed = False
        self._size = 0
        continued = resume and self.partial.is_file()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Unbuffered: nothing of a cut-back chunk can be flushed later by a buffer.
            self._handle: IO[bytes] | None = open(
                self.partial, "r+b" if continued else "wb", buffering=0
            )
            if continued:
                self.documents, self._size = _complete_lines(self._handle)
                os.ftruncate(self._handle.fileno(), self._size)
                self._handle.seek(self._size)
                os.fsync(self._handle.fileno())
        except OSError as error:
            raise _cannot_write(self.partial, error) from None
        if not continued:
            share_like_a_new_file(self.partial, replaces=self.path)

    def write(self, docs: Iterable[Document]) -> int:
        """Append documents as complete lines, then flush and sync them to disk.

        Returns:
            How many documents were written.

        Raises:
            DataError: ``E115`` if the chunk cannot be written; the file keeps the chunks
                before it.
        """
        docs = list(docs)
        if not docs:
            return 0
        if self._handle is None:
            raise DataError("is closed; open a new writer", code="E115", file=self.partial)
        data = memoryview(documents_to_text(docs, "jsonl").encode("utf-8"))
        try:
            done = 0
            while done < len(data):  # an unbuffered write may take only part of the bytes
                done += self._handle.write(data[done:]) or 0
            os.fsync(self._handle.fileno())
        except BaseException as error:
            self._cut_back()
            if isinstance(error, OSError):
                raise _cannot_write(self.partial, error) from None
            raise
        self._size += len(data)
        self.documents += len(docs)
        return len(docs)

    def _cut_back(self) -> None:
        """Drop whatever part of an unfinished chunk reached the file (best effort)."""
        handle, self._handle = self._handle, None
        if handle is None:
            return
        try:
            os.ftruncate(handle.fileno(), self._size)
            os.fsync(handle.fileno())
        except OSError:
            pass
        finally:
            _close_quietly(handle)

    def commit(self) -> None:
        """Close the file and rename it to :attr:`path`: the output is complete.

        Raises:
            DataError: ``E115`` if it cannot be closed or renamed.
        """
        handle, self._handle = self._handle, None
        try:
            if handle is not None:
                handle.close()
            os.replace(self.partial, self.path)
        except OSError as error:
            raise _cannot_write(self.path, error) from None
        self.committed = True

    def close(self) -> None:
        """Close without committing: ``OUT.partial`` keeps the documents written so far."""
        handle, self._handle = self._handle, None
        if handle is not None:
            _close_quietly(handle)

    def __enter__(self) -> JsonLinesWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _complete_lines(handle: IO[bytes]) -> tuple[int, int]:
    """Count the complete lines of a file from its start: ``(lines, bytes they take)``."""
    handle.seek(0)
    lines = size = position = 0
    while block := handle.read(_LINE_BLOCK):
        count = block.count(b"\n")
        if count:
            lines += count
            size = position + block.rindex(b"\n") + 1
        position += len(block)
    return lines, size


def count_complete_lines(path: str | Path) -> int:
    """How many complete (LF-ended) lines a file holds; 0 for a missing file.

    Example:
        >>> count_complete_lines("out.jsonl.partial")  # doctest: +SKIP
        1184
    """
    try:
        with Path(path).open("rb") as handle:
            return _complete_lines(handle)[0]
    except FileNotFoundError:
        return 0


def _close_quietly(handle: IO[bytes]) -> None:
    try:
        handle.close()
    except OSError:
        pass
