"""Error hierarchy with stable codes.

Every error a user can cause derives from :class:`SpertMTError`, carries a stable code and says
what is wrong, where, and how to fix it. Codes are grouped by stage:

- ``E1xx`` data (files, documents, fields, datasets)
- ``E2xx`` configuration
- ``E3xx`` checkpoints
- ``E4xx`` encoders
- ``E5xx`` prediction inputs

The command line catches :class:`SpertMTError`, prints ``str(error)`` on one line and exits
non-zero, without a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class SpertMTError(Exception):
    """Base class of every error spertmt raises on purpose.

    Args:
        code: Stable error code such as ``"E105"``.
        message: What is wrong and how to fix it.
    """

    code: str = "E000"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        if code is not None:
            self.code = code
        self.message = message
        super().__init__(f"[{self.code}] {message}")


class DataError(SpertMTError):
    """Bad input data: names the file, the document (index and ``orig_id``) and the field.

    Args:
        message: What is wrong and how to fix it.
        code: Stable code (``E1xx``).
        file: The file that holds the problem, if any.
        doc_index: Zero-based index of the document in the file.
        orig_id: The document's ``orig_id``, when it has one.
        field: Dotted path of the offending field, e.g. ``entities[2].end``.
        line: One-based line of the problem in the file (JSON Lines, invalid JSON).

    Example:
        >>> print(DataError("end 9 exceeds 5 tokens", code="E105", file="a.json",
        ...                 doc_index=3, orig_id=17, field="entities[0].end"))
        [E105] a.json, document 3 (orig_id 17), field entities[0].end: end 9 exceeds 5 tokens
    """

    code = "E100"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        file: str | Path | None = None,
        doc_index: int | None = None,
        orig_id: Any = None,
        field: str | None = None,
        line: int | None = None,
    ) -> None:
        self.file = str(file) if file is not None else None
        self.line = line
        self.doc_index = doc_index
        self.orig_id = orig_id
        self.field = field
        self.reason = message
        where = []
        if self.file is not None:
            where.append(self.file)
        if line is not None:
            where.append(f"line {line}")
        if doc_index is not None:
            doc = f"document {doc_index}"
            if orig_id is not None:
                doc += f" (orig_id {orig_id})"
            where.append(doc)
        if field is not None:
            where.append(f"field {field}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message, code=code)


class ConfigError(SpertMTError):
    """Bad configuration value or key; names the dotted key."""

    code = "E200"

    def __init__(self, message: str, *, code: str | None = None, key: str | None = None) -> None:
        self.key = key
        super().__init__(f"config key {key}: {message}" if key else message, code=code)


class CheckpointError(SpertMTError):
    """A checkpoint folder that is missing, incomplete, or of an unknown format."""

    code = "E300"

    def __init__(self, message: str, *, code: str | None = None, path: str | Path | None = None):
        self.path = str(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if path is not None else message, code=code)


class EncoderError(SpertMTError):
    """An encoder that cannot be found, loaded or used."""

    code = "E400"


class InputError(SpertMTError):
    """Bad prediction input (raw text, token lists, request bodies)."""

    code = "E500"
