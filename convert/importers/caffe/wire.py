"""A minimal protobuf wire-format scanner for .caffemodel files.

Weights are most of a caffemodel's bytes. Parsing them into protobuf's repeated float
containers and then into numpy costs seconds and doubles memory, so the importer
parses only the layer *definitions* with protobuf (blob fields cut out of the bytes)
and reads each blob's packed ``data`` straight out of the file bytes with
``np.frombuffer`` (no copy).
"""
from __future__ import annotations

import numpy as np

from ...protowire import key as _key
from ...protowire import varint as _len

# Field numbers (Caffe's caffe.proto).
NET_LAYER, NET_LAYERS_V1 = 100, 2
LAYER_BLOBS, V1_BLOBS = 7, 6
BLOB_NUM, BLOB_CHANNELS, BLOB_HEIGHT, BLOB_WIDTH = 1, 2, 3, 4
BLOB_DATA, BLOB_SHAPE, BLOB_DOUBLE_DATA = 5, 7, 8


class WireError(ValueError):
    pass


def _varint(buf, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise WireError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint too long")


def _field_span(buf, start: int, end: int):
    """Like ``fields`` but yields (num, wt, value_start, value_end, field_start)."""
    pos = start
    while pos < end:
        fstart = pos
        key, pos = _varint(buf, pos, end)
        num, wt = key >> 3, key & 7
        if wt == 0:
            vstart = pos
            _, pos = _varint(buf, pos, end)
            yield num, wt, vstart, pos, fstart
        elif wt == 1:
            pos += 8
            yield num, wt, pos - 8, pos, fstart
        elif wt == 2:
            n, pos = _varint(buf, pos, end)
            if pos + n > end:
                raise WireError("length-delimited field runs past its message")
            yield num, wt, pos, pos + n, fstart
            pos += n
        elif wt == 5:
            pos += 4
            yield num, wt, pos - 4, pos, fstart
        else:
            raise WireError(f"unsupported wire type {wt}")
        if pos > end:
            raise WireError("field runs past its message")


class RawBlob:
    """One BlobProto located in the file: its shape and a zero-copy float view."""

    __slots__ = ("shape", "legacy", "data")

    def __init__(self, shape, legacy, data):
        self.shape = shape  # tuple from `shape { dim }`, or None
        self.legacy = legacy  # (num, channels, height, width) or None
        self.data = data  # 1-D numpy array


def _read_blob(buf, start: int, end: int) -> RawBlob:
    shape = None
    legacy = [0, 0, 0, 0]
    has_legacy = False
    data = None
    floats: list = []
    for num, wt, vs, ve, _ in _field_span(buf, start, end):
        if num == BLOB_SHAPE and wt == 2:
            dims = []
            for n2, wt2, vs2, ve2, _ in _field_span(buf, vs, ve):
                if n2 != 1:
                    continue
                if wt2 == 2:  # packed
                    p = vs2
                    while p < ve2:
                        d, p = _varint(buf, p, ve2)
                        dims.append(d)
                elif wt2 == 0:
                    d, _ = _varint(buf, vs2, ve2)
                    dims.append(d)
            shape = tuple(dims)
        elif num == BLOB_DATA and wt == 2:
            if (ve - vs) % 4:
                raise WireError("packed float data is not a multiple of 4 bytes")
            data = np.frombuffer(buf, dtype="<f4", count=(ve - vs) // 4, offset=vs)
        elif num == BLOB_DATA and wt == 5:  # unpacked repeated float (old writers)
            floats.append(np.frombuffer(buf, dtype="<f4", count=1, offset=vs))
        elif num == BLOB_DOUBLE_DATA and wt == 2 and data is None:
            data = np.frombuffer(buf, dtype="<f8", count=(ve - vs) // 8, offset=vs).astype(np.float32)
        elif num in (BLOB_NUM, BLOB_CHANNELS, BLOB_HEIGHT, BLOB_WIDTH) and wt == 0:
            v, _ = _varint(buf, vs, ve)
            legacy[num - 1] = v
            has_legacy = True
    if data is None:
        data = np.concatenate(floats) if floats else np.zeros(0, np.float32)
    return RawBlob(shape, tuple(legacy) if has_legacy else None, data)


def split_net(buf) -> tuple[bytes, list[list[RawBlob]], list[list[RawBlob]]]:
    """Return (the NetParameter bytes with every layer's blobs cut out, blobs of each
    `layer` entry in order, blobs of each legacy `layers` entry in order)."""
    end = len(buf)
    out = bytearray()
    new_blobs: list[list[RawBlob]] = []
    v1_blobs: list[list[RawBlob]] = []
    for num, wt, vs, ve, fstart in _field_span(buf, 0, end):
        if wt == 2 and num in (NET_LAYER, NET_LAYERS_V1):
            blob_field = LAYER_BLOBS if num == NET_LAYER else V1_BLOBS
            blobs: list[RawBlob] = []
            body = bytearray()
            for n2, wt2, vs2, ve2, fs2 in _field_span(buf, vs, ve):
                if n2 == blob_field and wt2 == 2:
                    blobs.append(_read_blob(buf, vs2, ve2))
                else:
                    body += buf[fs2:ve2]
            (new_blobs if num == NET_LAYER else v1_blobs).append(blobs)
            out += _key(num, 2) + _len(len(body)) + body
        else:
            out += buf[fstart:ve]
    return bytes(out), new_blobs, v1_blobs


