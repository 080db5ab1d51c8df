"""ONNX messages in protobuf wire format, encoded without the onnx package.

Each function gives the bytes onnx itself serialises for the message that
``onnx.helper`` / ``numpy_helper`` would build from the same values (fields in number
order; onnx.proto is proto2, so a set optional field is written even when empty).
``tests/test_onnx_wire.py`` compares them byte for byte. A value this encoder does not
cover raises ``NeedsOnnx`` and the caller builds the model with onnx instead, so a rare
case costs the onnx import but never a different file.
"""
from __future__ import annotations

import numbers
import struct
from typing import Any, Sequence

import numpy as np

from ...protowire import field_header, key, varint

# AttributeProto.type values
_FLOAT, _INT, _STRING, _FLOATS, _INTS, _STRINGS = 1, 2, 3, 6, 7, 8
_INT64 = (-2**63, 2**63)
# dtypes whose array bytes are the TensorProto raw_data as they are (little-endian host)
RAW_DTYPES = {"float32": 1, "uint8": 2, "int8": 3, "int16": 5, "int32": 6, "int64": 7, "bool": 9,
              "float16": 10, "float64": 11}
EXTERNAL = 1  # TensorProto.DataLocation


class NeedsOnnx(Exception):
    """A value the wire encoder does not write; the onnx package builds the model instead."""


def message(number: int, payload: bytes) -> bytes:
    return field_header(number, len(payload)) + payload


def string(number: int, text: str | bytes) -> bytes:
    if isinstance(text, str):
        try:
            text = text.encode()
        except UnicodeEncodeError:  # a lone surrogate: whatever onnx does with it
            raise NeedsOnnx("text that is not valid Unicode") from None
    return message(number, text)


def int64(number: int, value: int) -> bytes:
    if not _INT64[0] <= value < _INT64[1]:
        raise NeedsOnnx(f"integer {value} outside int64")
    return key(number, 0) + varint(value & 0xFFFFFFFFFFFFFFFF)  # negatives: 10-byte two's complement


def float32(number: int, value: float) -> bytes:
    try:
        return key(number, 5) + struct.pack("<f", value)
    except OverflowError:  # protobuf would store inf: leave that rounding to it
        raise NeedsOnnx(f"float {value} outside float32") from None


def attribute(name: str, value: Any) -> bytes:
    """``helper.make_attribute(name, value)`` for numbers, strings and lists of them."""
    head = string(1, name)
    if isinstance(value, numbers.Integral):
        return head + int64(3, int(value)) + int64(20, _INT)
    if isinstance(value, numbers.Real):
        return head + float32(2, float(value)) + int64(20, _FLOAT)
    if isinstance(value, (str, bytes)):
        return head + string(4, value) + int64(20, _STRING)
    if isinstance(value, (list, tuple)) or isinstance(value, np.ndarray) and value.ndim == 1:
        items = list(value)
        if not items:  # onnx cannot infer the type of an empty list either: its error
            raise NeedsOnnx(f"attribute {name!r} is empty")
        if all(isinstance(v, numbers.Integral) for v in items):
            return head + b"".join(int64(8, int(v)) for v in items) + int64(20, _INTS)
        if all(isinstance(v, numbers.Real) for v in items):
            return head + b"".join(float32(7, float(v)) for v in items) + int64(20, _FLOATS)
        if all(isinstance(v, (str, bytes)) for v in items):
            return head + b"".join(string(9, v) for v in items) + int64(20, _STRINGS)
    raise NeedsOnnx(f"attribute {name!r} of type {type(value).__name__}")


def node(op_type: str, inputs: Sequence[str], outputs: Sequence[str], name: str, domain: str | None,
         attrs: dict[str, Any]) -> bytes:
    """``helper.make_node(op_type, inputs, outputs, name=name, domain=domain, **attrs)``."""
    out = [string(1, i) for i in inputs] + [string(2, o) for o in outputs]
    if name:
        out.append(string(3, name))
    out.append(string(4, op_type))
    out += [message(5, attribute(k, v)) for k, v in sorted(attrs.items()) if v is not None]
    if domain is not None:
        out.append(string(7, domain))
    return b"".join(out)


def value_info(name: str, elem_type: int, shape: Sequence[int | str | None] | None) -> bytes:
    """``helper.make_tensor_value_info(name, elem_type, shape)``."""
    tensor = int64(1, elem_type)
    if shape is not None:
        dims = []
        for d in shape:
            if d is None:
                dims.append(message(1, b""))
            elif isinstance(d, str):
                dims.append(message(1, string(2, d)))
            else:
                dims.append(message(1, int64(1, int(d))))
        tensor += message(2, b"".join(dims))
    return string(1, name) + message(2, message(1, tensor))


def tensor_dtype(arr: np.ndarray) -> int:
    code = RAW_DTYPES.get(str(arr.dtype))
    if code is None or not arr.dtype.isnative:
        raise NeedsOnnx(f"tensor dtype {arr.dtype}")
    return code


def tensor_head(name: str, arr: np.ndarray, external: tuple[str, int, int] | None = None) -> bytes:
    """A TensorProto without its data: with ``external`` (location, offset, length) the
    whole message of an external tensor; else everything before raw_data's bytes
    (``numpy_helper.from_array``), whose field header ends it."""
    out = b"".join(int64(1, d) for d in arr.shape) + int64(2, tensor_dtype(arr))
    if name:
        out += string(8, name)
    if external is None:
        return out + field_header(9, arr.nbytes)
    location, offset, length = external
    entries = (("location", location), ("offset", str(offset)), ("length", str(length)))
    return out + b"".join(message(13, string(1, k) + string(2, v)) for k, v in entries) + int64(14, EXTERNAL)


def opset(domain: str, version: int) -> bytes:
    return string(1, domain) + int64(2, version)


def entry(k: str, v: str) -> bytes:
    return string(1, k) + string(2, v)
