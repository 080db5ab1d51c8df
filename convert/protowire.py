"""Protobuf wire-format encoding, for writers that stream large byte payloads (weights)
straight to a file instead of copying them into a protobuf message."""
from __future__ import annotations

LENGTH_DELIMITED = 2


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(number: int, wire_type: int) -> bytes:
    return varint((number << 3) | wire_type)


def field_header(number: int, payload_len: int) -> bytes:
    """Tag and length of a length-delimited field whose payload follows."""
    return key(number, LENGTH_DELIMITED) + varint(payload_len)
