"""Find and load event schemas: subjects, versions, formats; from disk or a git ref."""

from evtool.catalog.loader import load_catalog, load_catalog_at_ref, read_schema_file
from evtool.catalog.model import Catalog, SchemaFile, SchemaFormat, Subject

__all__ = [
    "Catalog",
    "SchemaFile",
    "SchemaFormat",
    "Subject",
    "load_catalog",
    "load_catalog_at_ref",
    "read_schema_file",
]
