"""Small shared test data: a type schema with one asymmetric and one symmetric relation."""

from spertmt.schema import EntityType, RelationType, TypeSchema

TYPES = TypeSchema(
    (EntityType("Peop", "P", "People"), EntityType("Loc", "L", "Location")),
    (RelationType("Live_In", "LI", "Live in"), RelationType("Near", "N", "Near", symmetric=True)),
)
