"""Prediction inputs from files or standard input: raw text, SpERT JSON, JSON Lines.

``spertmt predict`` reads its INPUT through :func:`read_prediction_inputs`:

- **text** (``.txt``, or ``-`` for standard input): UTF-8, one document per line (the line's
  text exactly, without its line break; blank lines are skipped and counted), or the whole
  file as one document with ``whole_file=True``. The one-based line number of each line
  document is kept, so that predictions can be matched back to the input.
- **json** / **jsonl**: tokenised documents in SpERT's format, read and validated by
  :func:`spertmt.data.io.read_documents`. Their gold entities are used only in relation-only
  mode (``given_entities=True``); their relations are always ignored.

Inputs are read lazily: :func:`open_prediction_inputs` returns an :class:`InputStream` whose
:meth:`~InputStream.documents` reads a block of the file at a time and yields one
:class:`InputDocument` after another, so a corpus of millions of lines (text or JSON Lines)
needs memory for one line, not the file; :meth:`~InputStream.count` reads a file through once
to validate it and count its documents before any prediction. (A SpERT JSON file is one JSON
value and is parsed whole; use JSON Lines for corpora.) :func:`read_prediction_inputs`
collects the stream into :class:`PredictionInputs`, the inputs that
:meth:`spertmt.SpertMT.predict` takes, in input order.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import stat
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from spertmt.data.io import DataFormat, binary_lines, iter_documents, open_binary
from spertmt.errors import ConfigError, DataError
from spertmt.schema import Document, Entity, TypeSchema

__all__ = [
    "InputDocument",
    "InputFormat",
    "InputStream",
    "PredictionInputs",
    "STDIN",
    "input_format_of",
    "open_prediction_inputs",
    "read_prediction_inputs",
]

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
    """Decide how to read ``path``: ``requested`` if given, else by suffix.

    Standard input, and a pipe or FIFO whose name has no suffix (``<(zcat corpus.gz)``), are
    read as raw text unless ``requested`` says otherwise.

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
    if not suffix and _is_stream(Path(path)):
        return "text"  # a pipe from process substitution (/dev/fd/63) has no suffix: as stdin
    if suffix not in _SUFFIX_FORMATS:
        raise ConfigError(
            f"{path}: cannot tell the input format from the suffix {suffix!r}; name the file "
            "*.txt, *.json or *.jsonl, or pass --input-format text|json|jsonl",
            code="E210",
        )
    return _SUFFIX_FORMATS[suffix]


def _is_stream(path: Path) -> bool:
    """Whether ``path`` is neither a regular file nor a folder: a pipe, a FIFO, a device.

    False for a path that is missing or unreadable (reading it says so).
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


@dataclass(frozen=True)
class InputDocument:
    """One document of a prediction input, as :meth:`InputStream.documents` yields it.

    Attributes:
        index: Zero-based position among the input's documents (blank lines are not
            documents).
        item: The raw text of the document (a ``str``) for text input, else a ``Document``
            without its annotations.
        line_number: For line-per-document text, the one-based line in the input (the
            output's ``orig_id``); ``None`` otherwise.
        given: Relation-only mode: the document's entities; ``None`` otherwise.
        name: The document as messages name it (``news.txt, line 4``, ``a.jsonl, document 3
            (orig_id 17)``).
    """

    index: int
    item: str | Document
    line_number: int | None
    given: tuple[Entity, ...] | None
    name: str


@dataclass
class InputStream:
    """A prediction input, read lazily: iterate :meth:`documents`; :meth:`count` validates.

    Build it with :func:`open_prediction_inputs`. A regular file can be read any number of
    times; standard input, a pipe or a FIFO (``<(zcat corpus.gz)``) once (:attr:`read_once`).

    Attributes:
        path: The input file, or ``-`` for standard input.
        source: The input's name for messages (the path, or ``<stdin>``).
        format: How the input is read.
        whole_file: Raw text: the whole input is one document.
        given_entities: Relation-only mode: documents keep their entities.
        types: The model's types, which given entities are checked against.
        blank_lines: Blank lines skipped so far by the last complete read (text lines).
    """

    path: str | Path
    source: str
    format: InputFormat
    whole_file: bool = False
    given_entities: bool = False
    types: TypeSchema | None = None
    blank_lines: int = field(default=0, init=False)
    _read: bool = field(default=False, init=False, repr=False)

    @property
    def is_stdin(self) -> bool:
        """Whether the input is standard input."""
        return str(self.path) == STDIN

    @property
    def read_once(self) -> bool:
        """Whether the input can be read only once (standard input, a pipe, a FIFO, a device).

        That is standard input, or a file that is neither a regular file nor a folder (a pipe
        from process substitution, a FIFO). Such an input is not counted or validated ahead,
        nor resumed: reading it again would find it empty (or wait for ever on a FIFO).
        """
        return self.is_stdin or _is_stream(Path(self.path))

    def with_types(self, types: TypeSchema) -> InputStream:
        """The same input, with given entities checked against ``types`` (the model's)."""
        return InputStream(
            self.path, self.source, self.format, self.whole_file, self.given_entities, types
        )

    def count(self) -> int:
        """Read the whole input once, validating every document; return how many it holds.

        Memory stays bounded (one line at a time for text and JSON Lines). For a file only:
        an input that is :attr:`read_once` cannot be read twice.

        Raises:
            DataError: As :meth:`documents`, for the first invalid document.
        """
        if self.read_once:
            raise ValueError(f"{self.source} cannot be counted without being consumed")
        total = 0
        for _ in self.documents():
            total += 1
        return total

    def documents(self) -> Iterator[InputDocument]:
        """Yield the input's documents in input order, reading the input as they are asked for.

        :attr:`blank_lines` is set when the reading ends.

        Raises:
            DataError: E101 for a missing or unreadable file or bytes that are not UTF-8
                (with the line), E102-E114 for invalid JSON documents (see
                :mod:`spertmt.data.io`), when the reading reaches them.
        """
        if self.read_once:
            if self._read:
                raise ValueError(f"{self.source} has been read already")
            self._read = True
        if self.format == "text":
            if self.whole_file:
                return self._whole_text()
            return self._text_lines()
        return self._tokenised()

    def _whole_text(self) -> Iterator[InputDocument]:
        data = _read_bytes(self.path, self.source)
        text = _decode_line(data, self.source, line=None, offset=0).removeprefix("\ufeff")
        self.blank_lines = 0
        if text.strip():
            yield InputDocument(0, text, None, None, self.source)

    def _text_lines(self) -> Iterator[InputDocument]:
        blank = index = 0
        with _open_input(self.path, self.source) as handle:
            for number, offset, data in binary_lines(handle):
                line = _decode_line(data, self.source, line=number, offset=offset)
                if number == 1:
                    line = line.removeprefix("\ufeff")  # the byte-order mark some editors write
                if not line.strip():
                    blank += 1
                    continue
                yield InputDocument(index, line, number, None, f"{self.source}, line {number}")
                index += 1
        self.blank_lines = blank

    def _tokenised(self) -> Iterator[InputDocument]:
        if self.given_entities and self.types is None:
            raise ConfigError("given_entities needs the model's types", code="E211")
        types = self.types if self.given_entities else None
        self.blank_lines = 0
        fmt: DataFormat = "json" if self.format == "json" else "jsonl"
        for index, doc in _documents_from(self.path, self.source, fmt, types):
            name = f"{self.source}, document {index}"
            if doc.orig_id is not None:
                name += f" (orig_id {doc.orig_id})"
            given = doc.entities if self.given_entities else None
            item = dataclasses.replace(doc, entities=(), relations=())
            yield InputDocument(index, item, None, given, name)


def open_prediction_inputs(
    path: str | Path,
    *,
    input_format: str | None = None,
    whole_file: bool = False,
    given_entities: bool = False,
    types: TypeSchema | None = None,
) -> InputStream:
    """Check the options of a prediction input and return it as a lazily read stream.

    Nothing is read yet (see :class:`InputStream`).

    Args:
        path: Input file, or ``-`` for standard input.
        input_format: ``"text"``, ``"json"`` or ``"jsonl"``; ``None`` decides by suffix
            (standard input: text).
        whole_file: Raw text only: the whole input is one document instead of one per line.
        given_entities: Relation-only mode: keep each document's ``entities`` (JSON and JSONL
            input only), checked against ``types``.
        types: The model's types; required with ``given_entities`` before reading.

    Returns:
        The input stream.

    Raises:
        ConfigError: E210 for an unknown format, E211 for options that do not fit the input
            (``whole_file`` on tokenised input, ``given_entities`` on raw text).

    Example:
        >>> stream = open_prediction_inputs("corpus.jsonl")          # doctest: +SKIP
        >>> for document in stream.documents():                       # doctest: +SKIP
        ...     print(document.index, document.item.tokens)

    """
    fmt = input_format_of(path, input_format)
    source = "<stdin>" if str(path) == STDIN else str(path)
    if fmt != "text" and whole_file:
        raise ConfigError(
            f"{source}: --whole-file applies to raw text input, not {fmt}", code="E211"
        )
    if fmt == "text" and given_entities:
        raise ConfigError(
            f"{source}: --given-entities needs entities, which raw text does not have; "
            "pass SpERT JSON or JSON Lines documents with their entities",
            code="E211",
        )
    return InputStream(path, source, fmt, whole_file, given_entities, types)


def read_prediction_inputs(
    path: str | Path,
    *,
    input_format: str | None = None,
    whole_file: bool = False,
    given_entities: bool = False,
    types: TypeSchema | None = None,
) -> PredictionInputs:
    """Read the documents to predict from a file or standard input, all at once.

    :func:`open_prediction_inputs` read through: for inputs that fit in memory (``spertmt
    predict`` streams instead).

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
    stream = open_prediction_inputs(
        path,
        input_format=input_format,
        whole_file=whole_file,
        given_entities=given_entities,
        types=types,
    )
    documents = list(stream.documents())
    lines = stream.format == "text" and not whole_file
    return PredictionInputs(
        tuple(d.item for d in documents),
        tuple(d.line_number for d in documents if d.line_number is not None) if lines else None,
        tuple(d.given for d in documents if d.given is not None) if given_entities else None,
        stream.format,
        stream.blank_lines,
        stream.source,
    )


def _decode_line(data: bytes, source: str, *, line: int | None, offset: int) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        if line is None:  # the whole file: find the line of the bad byte
            line = len(_LINE_BREAK_BYTES.findall(data, 0, error.start)) + 1
        raise DataError(
            f"is not UTF-8 text: byte {offset + error.start} (0x{data[error.start]:02x}) cannot "
            f"be decoded ({error.reason}); save the file as UTF-8",
            code="E101",
            file=source,
            line=line,
        ) from None


def _documents_from(
    path: str | Path, source: str, fmt: DataFormat, types: TypeSchema | None
) -> Iterator[tuple[int, Document]]:
    """Read JSON or JSON Lines documents from a file or from standard input (``-``).

    Files and JSON Lines on standard input stream; a SpERT JSON list on standard input is
    staged in a temporary file first.
    """
    options: dict[str, Any] = {
        "types": types,
        "require_annotations": False,
        "types_of_model": True,
    }
    if str(path) != STDIN:
        for index, _, doc in iter_documents(path, format=fmt, **options):
            yield index, doc
        return
    if fmt == "jsonl":
        stdin = Path(source)  # names standard input in messages; never opened
        for index, _, doc in iter_documents(stdin, format=fmt, handle=sys.stdin.buffer, **options):
            yield index, doc
        return
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
            for index, _, doc in iter_documents(staged, format=fmt, **options):
                yield index, doc
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


_LINE_BREAK_BYTES = re.compile(rb"\r\n|\n|\r")


def _open_input(path: str | Path, source: str) -> Any:
    """The input as a binary stream: standard input (left open), or the file."""
    if str(path) == STDIN:
        return contextlib.nullcontext(sys.stdin.buffer)
    return open_binary(path, "a text file")


def _read_bytes(path: str | Path, source: str) -> bytes:
    if str(path) == STDIN:
        return sys.stdin.buffer.read()
    with open_binary(path, "a text file") as handle:
        try:
            return handle.read()
        except OSError as error:
            raise DataError(
                f"cannot be read: {error.strerror or error}", code="E101", file=source
            ) from None
