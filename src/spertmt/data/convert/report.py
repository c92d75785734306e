"""What one conversion read, wrote and left out: :class:`ConversionReport`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ConversionReport"]


@dataclass
class ConversionReport:
    """Counts of one conversion, and every annotation it could not carry over, by reason.

    Nothing is dropped silently: each entity, relation, event, attribute, note or document
    that the target cannot hold is counted under a reason (``"discontinuous entity"``,
    ``"event"``, ...) with the place of its first occurrence.

    Attributes:
        source: Format read (``brat``, ``dygie``, ...).
        target: Format written.
        input: The file or folder read.
        output: The file or folder written.
        documents: Documents written.
        entities: Entities written.
        relations: Relations written.
        source_documents: Documents found in the input (before any sentence splitting).
        skipped: Items left out, by reason.
        first_skipped: For each reason, where it happened first (``a.ann, line 4``).
        notes: Other changes, by kind (``"sentence boundary kept closed"``), counted.
        types_file: The types file written (or checked), when there is one.

    Example:
        >>> report = ConversionReport("brat", "spert", "ann/", "out.json")
        >>> report.skip("discontinuous entity", "a.ann, line 3")
        >>> report.lines()[-1]
        'skipped 1 × discontinuous entity (first: a.ann, line 3)'
    """

    source: str
    target: str
    input: str
    output: str
    documents: int = 0
    entities: int = 0
    relations: int = 0
    source_documents: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    first_skipped: dict[str, str] = field(default_factory=dict)
    notes: Counter[str] = field(default_factory=Counter)
    types_file: str | None = None

    def skip(self, reason: str, where: str, count: int = 1) -> None:
        """Count ``count`` items left out for ``reason``, first seen at ``where``."""
        self.skipped[reason] += count
        self.first_skipped.setdefault(reason, where)

    def note(self, kind: str, count: int = 1) -> None:
        """Count a change that loses nothing (a trimmed span, a merged sentence)."""
        self.notes[kind] += count

    def lines(self) -> list[str]:
        """The report as short lines: what was read, what was written, what was left out."""
        out = [
            f"read {self.source_documents} {self.source} documents from {self.input}",
            f"wrote {self.documents} {self.target} documents, {self.entities} entities and "
            f"{self.relations} relations to {self.output}",
        ]
        if self.types_file is not None:
            out.append(f"types: {self.types_file}")
        for kind, count in sorted(self.notes.items()):
            out.append(f"note: {count} × {kind}")
        for reason, count in sorted(self.skipped.items()):
            out.append(f"skipped {count} × {reason} (first: {self.first_skipped[reason]})")
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary."""
        return {
            "source": self.source,
            "target": self.target,
            "input": self.input,
            "output": self.output,
            "source_documents": self.source_documents,
            "documents": self.documents,
            "entities": self.entities,
            "relations": self.relations,
            "skipped": {
                reason: {"count": count, "first": self.first_skipped[reason]}
                for reason, count in sorted(self.skipped.items())
            },
            "notes": dict(sorted(self.notes.items())),
            "types_file": self.types_file,
        }
