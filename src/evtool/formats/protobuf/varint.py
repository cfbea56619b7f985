"""Protobuf's base-128 varint, for the framing around messages (length prefixes, message indexes)."""

from __future__ import annotations


def varint(value: int) -> bytes:
    """`value` (non-negative) as a base-128 varint, low groups first."""
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def zigzag(number: int) -> bytes:
    """A signed 64-bit number zigzag-encoded, then as a varint (the registry's message indexes)."""
    return varint((number << 1) ^ (number >> 63))
