"""Proof by the wire: encode a message with the writer's descriptors, decode with the reader's.

Classes come from protobuf's `message_factory` over a private descriptor pool per version (the
versions of one subject define the same names, so they cannot share a pool).
"""

from __future__ import annotations

import weakref
from typing import Any

from google.protobuf import descriptor_pool, json_format, message, message_factory, unknown_fields
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from evtool.formats.protobuf.model import ProtoSchema

_SAMPLES: dict[int, Any] = {
    FieldDescriptor.TYPE_DOUBLE: 12.5,
    FieldDescriptor.TYPE_FLOAT: 1.5,
    FieldDescriptor.TYPE_INT64: 1250,
    FieldDescriptor.TYPE_UINT64: 1250,
    FieldDescriptor.TYPE_INT32: 3,
    FieldDescriptor.TYPE_FIXED64: 1250,
    FieldDescriptor.TYPE_FIXED32: 3,
    FieldDescriptor.TYPE_BOOL: True,
    FieldDescriptor.TYPE_STRING: "rf-2041",
    FieldDescriptor.TYPE_BYTES: b"\x01\x02",
    FieldDescriptor.TYPE_UINT32: 3,
    FieldDescriptor.TYPE_SFIXED32: 3,
    FieldDescriptor.TYPE_SFIXED64: 1250,
    FieldDescriptor.TYPE_SINT32: 3,
    FieldDescriptor.TYPE_SINT64: 1250,
}


def message_class(schema: ProtoSchema, full_name: str) -> type[message.Message] | None:
    classes: dict[str, type[message.Message]] = schema.extra.setdefault("classes", {})
    found = classes.get(full_name)
    if found is not None:
        return found
    pool = schema.extra.get("pool")
    if pool is None:
        pool = schema.extra["pool"] = descriptor_pool.DescriptorPool()
        for file in schema.files:
            pool.Add(file)
    try:
        descriptor = pool.FindMessageTypeByName(full_name)
    except KeyError:
        return None
    cls: type[message.Message] = message_factory.GetMessageClass(descriptor)
    classes[full_name] = cls
    return cls


def sample_value(field: FieldDescriptor) -> Any:
    if field.type == FieldDescriptor.TYPE_ENUM:
        values = field.enum_type.values
        return values[1].number if len(values) > 1 else values[0].number
    return _SAMPLES.get(field.type)


def set_field(msg: message.Message, number: int, value: Any = None, *, count: int = 1) -> bool:
    """Give field `number` a value (`value`, or a sample); False when it cannot be set."""
    descriptor: Descriptor = msg.DESCRIPTOR
    field = descriptor.fields_by_number.get(number)
    if field is None:
        return False
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        key_field = field.message_type.fields_by_name["key"]
        value_field = field.message_type.fields_by_name["value"]
        key = sample_value(key_field)
        target = getattr(msg, field.name)
        if value_field.message_type is not None:
            target[key].SetInParent()
        else:
            target[key] = value if value is not None else sample_value(value_field)
        return True
    if field.message_type is not None:
        if field.is_repeated:
            for _ in range(count):
                getattr(msg, field.name).add()
        else:
            getattr(msg, field.name).SetInParent()
        return True
    values = value if isinstance(value, list) else [value if value is not None else sample_value(field)]
    if field.is_repeated:
        getattr(msg, field.name).extend(values)
    else:
        setattr(msg, field.name, values[-1])
    return True


# per message class (weakly: classes die with their schema's pool), what every proof asks again
_REQUIRED: weakref.WeakKeyDictionary[type[message.Message], tuple[FieldDescriptor, ...]] = (
    weakref.WeakKeyDictionary()
)
_DECODED: weakref.WeakKeyDictionary[
    type[message.Message], dict[bytes, tuple[message.Message | None, str]]
] = weakref.WeakKeyDictionary()


def fill_required(msg: message.Message) -> None:
    """proto2 `required` fields of the writer get a value, so the writer can encode at all."""
    cls = type(msg)
    required = _REQUIRED.get(cls)
    if required is None:
        required = _REQUIRED[cls] = tuple(f for f in msg.DESCRIPTOR.fields if f.is_required)
    for field in required:
        if not msg.HasField(field.name):
            set_field(msg, field.number)


def as_event(msg: message.Message) -> dict[str, Any]:
    shown: dict[str, Any] = json_format.MessageToDict(msg, preserving_proto_field_name=True)
    return shown


def decode(reader: type[message.Message], data: bytes) -> tuple[message.Message | None, str]:
    """(decoded message, what the reader made of it) — or (None, the decoder's error).

    Remembered per reader class and bytes: in a transitive check one reader meets the same
    witness from every later writer. The message returned is shared: read it, do not change it.
    """
    memo = _DECODED.get(reader)
    if memo is None:
        memo = _DECODED[reader] = {}
    found = memo.get(data)
    if found is None:
        found = memo[data] = _decode(reader, data)
    return found


def _decode(reader: type[message.Message], data: bytes) -> tuple[message.Message | None, str]:
    try:
        decoded = reader.FromString(data)
    except message.DecodeError as exc:
        return None, f"decoding with the reader's descriptors fails: {exc}"
    shown = json_format.MessageToDict(decoded, preserving_proto_field_name=True)
    unknown = len(unknown_fields.UnknownFieldSet(decoded))
    tail = f" ({unknown} field(s) kept only as unknown bytes)" if unknown else ""
    return decoded, f"the reader decodes {shown}{tail}"
