"""Prediction inputs from files or standard input: raw text, SpERT JSON, JSON Lines.

``spertmt predict`` reads its INPUT through :func:`read_prediction_inputs`:

- **text** (``.txt``, or ``-`` for standard input): UTF-8, one document per line (the line's
  text exactly, without its line break; blank lines are skipped and counted), or the whole
  file as one document with ``whole_file=True``. The one-based line number of each line
  document is kept, so that predictions can be matched back to the input.
- **json** / **jsonl**: tokenised documents in SpERT's format, read and validated by
  :func:`spertmt.data.io.read_documents`. Their gold entities are used only in relation-only
  mode (``given_entities=True``); their relations are always ignored.

The reader returns :class:`PredictionInputs`, the inputs that :meth:`spertmt.SpertMT.pipe` and
:meth:`spertmt.SpertMT.predict` take, in input order.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from spertmt.data.io import DataFormat, read_documents
from spertmt.errors import ConfigError, DataError
from spertmt.schema import Document, Entity, TypeSchema

__all__ = ["InputFormat", "PredictionInputs", "STDIN", "input_format_of", "read_prediction_inputs"]

InputFormat = Literal["text", "json", "jsonl"]
"""How an input file is read: raw text, a SpERT JSON list, or JSON Lines."""

STDIN = "-"
"""The INPUT name that reads standard input."""

_SUFFIX_FORMATS: dict[str, InputFormat] = {
    ".txt": "text",
    ".text": "text",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


@dataclass(frozen=True)
class PredictionInputs:
    """What an input file holds, ready for prediction.

    Attributes:
        items: One input per document, in input order: the raw text of each document (a
            ``str``) for text input, else ``Document`` objects without their annotations.
        line_numbers: For line-per-document text, each document's one-based line in the
            input (its ``orig_id`` in the output); ``None`` otherwise.
        given: Relation-only mode: each document's entities; ``None`` otherwise.
        format: How the input was read.
        blank_lines: Blank or whitespace-only lines skipped in line-per-document text input.
        source: The input's name for messages (the path, or ``<stdin>``).
    """

    items: tuple[str | Document, ...]
    line_numbers: tuple[int, ...] | None
    given: tuple[tuple[Entity, ...], ...] | None
    format: InputFormat
    blank_lines: int
    source: str

    def __len__(self) -> int:
        return len(self.items)


def input_format_of(path: str | Path, requested: str | None = None) -> InputFormat:
    """Decide how to read ``path``: ``requested`` if given, else by suffix (stdin: text).

    Args:
        path: The input path, or ``-`` for standard input.
        requested: ``"text"``, ``"json"`` or ``"jsonl"`` (``"txt"`` is accepted for
            ``"text"``), or ``None`` to decide by suffix.

    Returns:
        The input format.

    Raises:
        ConfigError: E210 for an unknown requested format or an unknown suffix.

    Example:
        >>> input_format_of("news.txt"), input_format_of("-"), input_format_of("a.jsonl")
        ('text', 'text', 'jsonl')

    """
    if requested is not None:
        name = "text" if requested == "txt" else requested
        if name not in ("text", "json", "jsonl"):
            raise ConfigError(
                f"unknown input format {requested!r}; use text, json or jsonl", code="E210"
            )
        return name  # type: ignore[return-value]
    if str(path) == STDIN:
        return "text"
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIX_FORMATS:
        raise ConfigError(
            f"{path}: cannot tell the input format from the suffix {suffix!r}; name the file "
            "*.txt, *.json or *.jsonl, or pass --input-format text|json|jsonl",
            code="E210",
        )
    return _SUFFIX_FORMATS[suffix]


def read_prediction_inputs(
    path: str | Path,
    *,
    input_format: str | None = None,
    whole_file: bool = False,
    given_entities: bool = False,
    types: TypeSchema | None = None,
) -> PredictionInputs:
    """Read the documents to predict from a file or standard input.

    Args:
        path: Input file, or ``-`` for standard input.
        input_format: ``"text"``, ``"json"`` or ``"jsonl"``; ``None`` decides by suffix
            (standard input: text).
        whole_file: Raw text only: the whole input is one document instead of one per line.
        given_entities: Relation-only mode: keep each document's ``entities`` (JSON and JSONL
            input only), checked against ``types``.
        types: The model's types; required with ``given_entities``.

    Returns:
        The inputs, in input order.

    Raises:
        ConfigError: E210 for an unknown format, E211 for options that do not fit the input
            (``whole_file`` on tokenised input, ``given_entities`` on raw text).
        DataError: E101 for a missing or unreadable file or bytes that are not UTF-8 (with
            the line), E102-E114 for invalid JSON documents (see :mod:`spertmt.data.io`).

    Example:
        >>> inputs = read_prediction_inputs("news.txt")          # doctest: +SKIP
        >>> len(inputs), inputs.blank_lines                       # doctest: +SKIP
        (120, 3)

    """
    fmt = input_format_of(path, input_format)
    source = "<stdin>" if str(path) == STDIN else str(path)
    if fmt != "text" and whole_file:
        raise ConfigError(
            f"{source}: --whole-file applies to raw text input, not {fmt}", code="E211"
        )
    if fmt == "text":
        if given_entities:
            raise ConfigError(
                f"{source}: --given-entities needs entities, which raw text does not have; "
                "pass SpERT JSON or JSON Lines documents with their entities",
                code="E211",
            )
        return _read_text_inputs(path, source, whole_file=whole_file)
    if given_entities and types is None:
        raise ConfigError("given_entities needs the model's types", code="E211")
    docs = _read_documents_from(path, source, fmt, types if given_entities else None)
    given = tuple(doc.entities for doc in docs) if given_entities else None
    items = tuple(dataclasses.replace(doc, entities=(), relations=()) for doc in docs)
    return PredictionInputs(items, None, given, fmt, 0, source)


def _read_text_inputs(path: str | Path, source: str, *, whole_file: bool) -> PredictionInputs:
    data = _read_bytes(path, source)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = len(_LINE_BREAK_BYTES.findall(data, 0, error.start)) + 1
        raise DataError(
            f"is not UTF-8 text: byte {error.start} (0x{data[error.start]:02x}) cannot be "
            f"decoded ({error.reason}); save the file as UTF-8",
            code="E101",
            file=source,
            line=line,
        ) from None
    text = text.removeprefix("\ufeff")  # the byte-order mark some editors write
    if whole_file:
        texts = [text] if text.strip() else []
        return PredictionInputs(tuple(texts), None, None, "text", 0, source)
    # Split on line breaks only (LF, CRLF, and the lone CR of old Mac files):
    # str.splitlines() would also split inside a line at form feeds, vertical tabs and
    # Unicode separators, turning one document into several.
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()  # the final line break ends the last line, it does not start one
    kept = [(number, line) for number, line in enumerate(lines, start=1) if line.strip()]
    return PredictionInputs(
        tuple(line for _, line in kept),
        tuple(number for number, _ in kept),
        None,
        "text",
        len(lines) - len(kept),
        source,
    )


def _read_documents_from(
    path: str | Path, source: str, fmt: DataFormat, types: TypeSchema | None
) -> list[Document]:
    """Read JSON or JSON Lines documents from a file or from standard input (``-``)."""
    options: dict[str, Any] = {
        "types": types,
        "require_annotations": False,
        "types_of_model": True,
    }
    if str(path) != STDIN:
        return read_documents(path, format=fmt, **options)
    data = _read_bytes(path, source)
    with tempfile.TemporaryDirectory() as folder:
        staged = Path(folder) / f"stdin.{fmt}"
        try:
            staged.write_bytes(data)
        except OSError as error:
            raise DataError(
                f"cannot be staged for reading ({error.strerror or error}: the temporary folder "
                "is full or read-only); write the documents to a file and pass its path",
                code="E101",
                file=source,
            ) from None
        try:
            return read_documents(staged, format=fmt, **options)
        except DataError as error:  # name standard input, not the staging file
            raise DataError(
                error.reason,
                code=error.code,
                file=source,
                doc_index=error.doc_index,
                orig_id=error.orig_id,
                field=error.field,
                line=error.line,
            ) from None


_LINE_BREAK = re.compile(r"\r\n|\n|\r")
_LINE_BREAK_BYTES = re.compile(rb"\r\n|\n|\r")


def _read_bytes(path: str | Path, source: str) -> bytes:
    if str(path) == STDIN:
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError("file not found; check the path", code="E101", file=source) from None
    except IsADirectoryError:
        raise DataError("is a folder, expected a text file", code="E101", file=source) from None
    except OSError as error:
        raise DataError(
            f"cannot be read: {error.strerror or error}", code="E101", file=source
        ) from None
