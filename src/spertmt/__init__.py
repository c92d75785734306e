"""spertmt: span-based joint entity and relation extraction (SpERT and SpERT.MT)."""

from spertmt.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    EncoderError,
    InputError,
    SpertMTError,
)
from spertmt.schema import Document, Entity, EntityType, Relation, RelationType, TypeSchema

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "Document",
    "EncoderError",
    "Entity",
    "EntityType",
    "InputError",
    "Relation",
    "RelationType",
    "SpertMTError",
    "TypeSchema",
    "__version__",
]
