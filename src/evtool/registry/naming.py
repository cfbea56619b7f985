"""Which registry subject a catalogue folder is: the serializers' subject name strategies.

A producer's serializer picks the subject a schema is registered under; evtool must pick the
same one, or it checks against the wrong history. TopicNameStrategy (`<topic>-value`, the
default), RecordNameStrategy (the record's full name) and TopicRecordNameStrategy
(`<topic>-<record>`); `registry_subject` in a subject's table settles any other case.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from evtool.catalog.model import Subject
from evtool.config import Settings

VALUE_SUFFIX = "-value"


def record_name(document: Any, fallback: str) -> str:
    """Avro's full name, JSON Schema's `title` (what the JSON serializer uses), else `fallback`."""
    if isinstance(document, dict):
        name = document.get("name")
        if isinstance(name, str) and name:
            namespace = document.get("namespace")
            if "." not in name and isinstance(namespace, str) and namespace:
                return f"{namespace}.{name}"
            return name
        title = document.get("title")
        if isinstance(title, str) and title:
            return title
    return fallback


def registry_subject(subject: Subject, settings: Settings) -> str:
    configured = settings.subjects.get(subject.name)
    if configured is not None and configured.registry_subject:
        return configured.registry_subject
    topic = configured.topic if configured is not None and configured.topic else subject.name
    strategy = settings.registry.naming
    if strategy == "topic":
        return topic + VALUE_SUFFIX
    record = record_name(subject.latest.document, subject.name)
    if strategy == "record":
        return record
    return f"{topic}-{record}"


def folder_for(registry_name: str, settings: Settings, known: Iterable[Subject] = ()) -> str:
    """The catalogue folder a pulled registry subject goes to (an existing mapping first)."""
    for subject in known:
        if registry_subject(subject, settings) == registry_name:
            return subject.name
    for name, configured in settings.subjects.items():
        if configured.registry_subject == registry_name:
            return name
    if settings.registry.naming == "topic" and registry_name.endswith(VALUE_SUFFIX):
        return registry_name[: -len(VALUE_SUFFIX)]
    return registry_name
