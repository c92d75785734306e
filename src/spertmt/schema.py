"""Typed records: documents, entities, relations and the type schema (SpERT JSON).

All records are frozen dataclasses. ``to_dict``/``from_dict`` speak SpERT's JSON format::

    {"tokens": ["John", "lives", "in", "Paris", "."],
     "entities": [{"type": "Peop", "start": 0, "end": 1}, {"type": "Loc", "start": 3, "end": 4}],
     "relations": [{"type": "Live_In", "head": 0, "tail": 1}],
     "orig_id": 17}

``end`` is exclusive; ``head``/``tail`` index the document's ``entities``. Optional fields
(``score``, character offsets, ``text``) are written only when set, so gold data round-trips
byte-for-byte in content. ``from_dict`` here does no validation: use
:func:`spertmt.data.io.read_documents`, which validates and reports errors by file, document
and field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Entity:
    """A typed span of words.

    Attributes:
        type: Entity type name (a key of the types file's ``entities``).
        start: Index of the first word.
        end: Index one past the last word (exclusive).
        score: Model confidence in ``[0, 1]`` for predictions; ``None`` for gold data.
        char_start: Character offset of the span in the document's ``text`` (raw-text input).
        char_end: Exclusive character end offset in ``text``.
        text: Surface string ``text[char_start:char_end]`` (raw-text input).
    """

    type: str
    start: int
    end: int
    score: float | None = None
    char_start: int | None = None
    char_end: int | None = None
    text: str | None = None

    @property
    def span(self) -> tuple[int, int]:
        """The ``(start, end)`` word span."""
        return (self.start, self.end)

    @property
    def width(self) -> int:
        """Number of words in the span."""
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        """Return the SpERT JSON form (optional fields only when set)."""
        out: dict[str, Any] = {"type": self.type, "start": self.start, "end": self.end}
        if self.score is not None:
            out["score"] = self.score
        if self.char_start is not None:
            out["char_start"] = self.char_start
            out["char_end"] = self.char_end
        if self.text is not None:
            out["text"] = self.text
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Entity:
        """Build from the SpERT JSON form (no validation)."""
        return cls(
            type=data["type"],
            start=data["start"],
            end=data["end"],
            score=data.get("score"),
            char_start=data.get("char_start"),
            char_end=data.get("char_end"),
            text=data.get("text"),
        )


@dataclass(frozen=True)
class Relation:
    """A typed, directed link between two entities of the same document.

    Attributes:
        type: Relation type name (a key of the types file's ``relations``).
        head: Index of the head entity in the document's ``entities``.
        tail: Index of the tail entity in the document's ``entities``.
        score: Model confidence in ``[0, 1]`` for predictions; ``None`` for gold data.
    """

    type: str
    head: int
    tail: int
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the SpERT JSON form."""
        out: dict[str, Any] = {"type": self.type, "head": self.head, "tail": self.tail}
        if self.score is not None:
            out["score"] = self.score
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Relation:
        """Build from the SpERT JSON form (no validation)."""
        return cls(type=data["type"], head=data["head"], tail=data["tail"], score=data.get("score"))


@dataclass(frozen=True)
class Document:
    """A sentence (or longer text) as word tokens with its entities and relations.

    Attributes:
        tokens: The words.
        entities: Entities over ``tokens``.
        relations: Relations between ``entities`` (by index).
        orig_id: The dataset's own identifier, kept as given.
        text: Original raw text, when the document was made from raw text.
        token_offsets: ``(char_start, char_end)`` of each token in ``text``, when ``text`` is set.
    """

    tokens: tuple[str, ...]
    entities: tuple[Entity, ...] = ()
    relations: tuple[Relation, ...] = ()
    orig_id: Any = None
    text: str | None = None
    token_offsets: tuple[tuple[int, int], ...] | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Return the SpERT JSON form (``text`` only when set)."""
        out: dict[str, Any] = {
            "tokens": list(self.tokens),
            "entities": [e.to_dict() for e in self.entities],
            "relations": [r.to_dict() for r in self.relations],
        }
        if self.orig_id is not None:
            out["orig_id"] = self.orig_id
        if self.text is not None:
            out["text"] = self.text
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Document:
        """Build from the SpERT JSON form (no validation)."""
        return cls(
            tokens=tuple(data["tokens"]),
            entities=tuple(Entity.from_dict(e) for e in data.get("entities", ())),
            relations=tuple(Relation.from_dict(r) for r in data.get("relations", ())),
            orig_id=data.get("orig_id"),
            text=data.get("text"),
        )


@dataclass(frozen=True)
class EntityType:
    """An entity type declared in a types file."""

    name: str
    short: str
    verbose: str


@dataclass(frozen=True)
class RelationType:
    """A relation type declared in a types file; ``symmetric`` types have no direction."""

    name: str
    short: str
    verbose: str
    symmetric: bool = False


@dataclass(frozen=True)
class TypeSchema:
    """The entity and relation types of a dataset (SpERT's ``<name>_types.json``).

    The order of types is the order of the file; it fixes the model's class indices
    (entity class 0 is reserved for "none").
    """

    entity_types: tuple[EntityType, ...]
    relation_types: tuple[RelationType, ...]

    @property
    def entity_names(self) -> tuple[str, ...]:
        """Entity type names in file order."""
        return tuple(t.name for t in self.entity_types)

    @property
    def relation_names(self) -> tuple[str, ...]:
        """Relation type names in file order."""
        return tuple(t.name for t in self.relation_types)

    @property
    def symmetric_relations(self) -> frozenset[str]:
        """Names of the relation types declared ``symmetric``."""
        return frozenset(t.name for t in self.relation_types if t.symmetric)

    def to_dict(self) -> dict[str, Any]:
        """Return the SpERT types-file form."""
        return {
            "entities": {
                t.name: {"short": t.short, "verbose": t.verbose} for t in self.entity_types
            },
            "relations": {
                t.name: {"short": t.short, "verbose": t.verbose, "symmetric": t.symmetric}
                for t in self.relation_types
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TypeSchema:
        """Build from the SpERT types-file form (no validation)."""
        ents = tuple(
            EntityType(name, str(v.get("short", name)), str(v.get("verbose", name)))
            for name, v in data.get("entities", {}).items()
        )
        rels = tuple(
            RelationType(
                name,
                str(v.get("short", name)),
                str(v.get("verbose", name)),
                bool(v.get("symmetric", False)),
            )
            for name, v in data.get("relations", {}).items()
        )
        return cls(ents, rels)
