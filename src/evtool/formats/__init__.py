"""Schema formats, one package each (`avro`, `jsonschema`, `protobuf`), found by file suffix or by name.

Each package exposes `FORMAT`, an object implementing `evtool.formats.base.Format`; the registry
that finds them is in `evtool.formats.base`, beside the interface.
"""

from evtool.formats.base import all_formats, format_named, format_of, suffix_help

__all__ = ["all_formats", "format_named", "format_of", "suffix_help"]
