"""spertmt: span-based joint entity and relation extraction (SpERT and SpERT.MT)."""

from typing import TYPE_CHECKING, Any

from spertmt.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    EncoderError,
    InputError,
    SpertMTError,
)
from spertmt.schema import Document, Entity, EntityType, Relation, RelationType, TypeSchema

if TYPE_CHECKING:
    from spertmt.inference.api import SpertMT

from spertmt.version import __version__

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
    "SpertMT",
    "SpertMTError",
    "TypeSchema",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # SpertMT pulls in torch and transformers (seconds to import); loading it on first use
    # keeps `import spertmt` (schema, errors, the CLI's start-up) light.
    if name == "SpertMT":
        from spertmt.inference.api import SpertMT

        return SpertMT
    raise AttributeError(f"module 'spertmt' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"SpertMT"})
