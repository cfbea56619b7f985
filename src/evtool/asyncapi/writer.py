"""The catalogue written as an AsyncAPI 3 document: one channel per topic, one message per subject.

Payloads are `$ref`s to the schema files (latest version), relative to where the document is
written, so the document stays a view of the catalogue rather than a second copy of it;
`inline=True` embeds them for tools that cannot follow file references.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from evtool import __version__
from evtool.asyncapi.formats import MEDIA_TYPES
from evtool.catalog.model import Catalog, SchemaFormat
from evtool.config import Settings

ASYNCAPI_VERSION = "3.0.0"


def to_asyncapi(
    catalog: Catalog,
    settings: Settings,
    *,
    title: str = "Business events",
    version: str = "1.0.0",
    relative_to: Path,
    inline: bool = False,
) -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for subject in catalog.subjects.values():
        latest = subject.latest
        configured = settings.subjects.get(subject.name)
        topic = configured.topic if configured is not None and configured.topic else subject.name
        schema: Any
        if inline:
            schema = latest.document if latest.format is not SchemaFormat.PROTOBUF else latest.text
        else:
            schema = {"$ref": Path(os.path.relpath(latest.path.resolve(), relative_to.resolve())).as_posix()}
        message: dict[str, Any] = {
            "name": subject.name,
            "title": subject.name,
            "contentType": "application/json"
            if latest.format is not SchemaFormat.PROTOBUF
            else "application/x-protobuf",
            "payload": {"schemaFormat": MEDIA_TYPES[latest.format], "schema": schema},
            "x-evtool-version": latest.version,
        }
        if configured is not None and configured.owner:
            message["x-evtool-owner"] = configured.owner
        messages[subject.name] = message
        channel = channels.setdefault(topic, {"address": topic, "messages": {}})
        channel["messages"][subject.name] = {"$ref": f"#/components/messages/{subject.name}"}
        operations[f"send.{subject.name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{topic}"},
            "messages": [{"$ref": f"#/channels/{topic}/messages/{subject.name}"}],
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": title, "version": version, "x-generated-by": f"evtool {__version__}"},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def dump_yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
