"""One named metadata entry of a ``.tflite`` file, read by walking the flatbuffer's tables
from the file with seeks: only the tables on the path and the entry's own bytes are read,
never the weights. Every offset is checked against the file's size before it is followed
or read, so a hostile offset is an error, never a large read or allocation.

The path: root table (Model) -> field 6, metadata (vector of Metadata {name, buffer}) ->
field 4, buffers (vector of Buffer {data, offset, size}) -> the buffer's bytes, inline or,
where ``offset`` is set, at that absolute position after the flatbuffer."""
from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

from ...errors import ModelLoadError

_MODEL_BUFFERS, _MODEL_METADATA = 4, 6
_META_NAME, _META_BUFFER = 0, 1
_BUF_DATA, _BUF_OFFSET, _BUF_SIZE = 0, 1, 2


class _File:
    """Bounded little-endian reads at absolute positions of an open file."""

    def __init__(self, f: BinaryIO, size: int, path: str):
        self.f, self.size, self.path = f, size, path

    def bytes(self, at: int, n: int) -> bytes:
        if at < 0 or n < 0 or at + n > self.size:
            raise ModelLoadError(self.path, f"a flatbuffer offset points past the end of the file "
                                            f"({n} bytes at {at}, file {self.size} bytes)")
        self.f.seek(at)
        data = self.f.read(n)
        if len(data) != n:
            raise ModelLoadError(self.path, "the file shrank while it was read")
        return data

    def _num(self, fmt: str, at: int) -> int:
        return struct.unpack("<" + fmt, self.bytes(at, struct.calcsize(fmt)))[0]

    def u16(self, at: int) -> int:
        return self._num("H", at)

    def u32(self, at: int) -> int:
        return self._num("I", at)

    def u64(self, at: int) -> int:
        return self._num("Q", at)

    def deref(self, at: int) -> int:
        """The position an unsigned offset stored at ``at`` points to."""
        return at + self.u32(at)

    def field(self, table: int, field_id: int) -> int | None:
        """Where ``field_id`` of the table at ``table`` lies; None when absent (default)."""
        vtable = table - struct.unpack("<i", self.bytes(table, 4))[0]
        slot = 4 + 2 * field_id
        if slot + 2 > self.u16(vtable):
            return None
        off = self.u16(vtable + slot)
        return table + off if off else None

    def vector(self, at: int) -> tuple[int, int]:
        """(first element, length) of the vector an offset at ``at`` refers to."""
        start = self.deref(at)
        return start + 4, self.u32(start)

    def table_at(self, vector_start: int, length: int, i: int) -> int:
        if not 0 <= i < length:
            raise ModelLoadError(self.path, f"a flatbuffer index {i} is past its vector of {length}")
        return self.deref(vector_start + 4 * i)


def read_metadata(path: str | Path, name: str) -> bytes | None:
    """The bytes of metadata entry ``name`` of the flatbuffer at ``path`` (None if absent)."""
    path = str(path)
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        r = _File(f, size, path)
        root = r.deref(0)
        meta = r.field(root, _MODEL_METADATA)
        if meta is None:
            return None
        start, n = r.vector(meta)
        want = name.encode()
        for i in range(n):
            entry = r.table_at(start, n, i)
            where = r.field(entry, _META_NAME)
            if where is None:
                continue
            s, length = r.vector(where)
            if length != len(want) or r.bytes(s, length) != want:
                continue
            at = r.field(entry, _META_BUFFER)
            return _buffer(r, root, r.u32(at) if at is not None else 0)
    return None


def _buffer(r: _File, root: int, index: int) -> bytes:
    buffers = r.field(root, _MODEL_BUFFERS)
    if buffers is None:
        raise ModelLoadError(r.path, f"metadata refers to buffer {index} of a file without buffers")
    start, n = r.vector(buffers)
    table = r.table_at(start, n, index)
    off, size = (r.field(table, f) for f in (_BUF_OFFSET, _BUF_SIZE))
    if off is not None and r.u64(off) > 1:  # stored after the flatbuffer
        return r.bytes(r.u64(off), r.u64(size) if size is not None else 0)
    data = r.field(table, _BUF_DATA)
    if data is None:
        return b""
    s, length = r.vector(data)
    return r.bytes(s, length)
