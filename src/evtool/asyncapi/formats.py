"""AsyncAPI's `schemaFormat` media types, and which catalogue format each one is."""

from __future__ import annotations

from evtool.catalog.model import SchemaFormat

AVRO = "application/vnd.apache.avro;version=1.9.0"
JSON_SCHEMA = "application/schema+json;version=draft-07"
ASYNCAPI_SCHEMA = "application/vnd.aai.asyncapi+json;version=3.0.0"
PROTOBUF = "application/vnd.google.protobuf;version=3"

MEDIA_TYPES: dict[SchemaFormat, str] = {
    SchemaFormat.AVRO: AVRO,
    SchemaFormat.JSON: JSON_SCHEMA,
    SchemaFormat.PROTOBUF: PROTOBUF,
}


def format_of_media_type(media_type: str) -> SchemaFormat | None:
    """The format a `schemaFormat` names (any version; `+yaml` spellings too), None if evtool has none."""
    base = media_type.split(";", 1)[0].strip().lower()
    if base == "application/vnd.apache.avro" or base.startswith("application/vnd.apache.avro+"):
        return SchemaFormat.AVRO
    if base in ("application/vnd.google.protobuf", "application/x-protobuf"):
        return SchemaFormat.PROTOBUF
    if base in ("application/schema+json", "application/schema+yaml") or base.startswith(
        "application/vnd.aai.asyncapi"
    ):
        return SchemaFormat.JSON  # AsyncAPI's schema object is a JSON Schema draft-07 superset
    return None
