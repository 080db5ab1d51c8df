"""A minimal safetensors reader/writer (the format is 8 bytes of header length, a JSON
header, then raw little-endian data). Own code so loading can memory-map."""
from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .graph import numpy_dtype
from ..limits import MAX_TENSOR_ELEMENTS
from ..progress import Progress, Ticker

_TO_ST = {"float32": "F32", "float16": "F16", "bfloat16": "BF16", "float64": "F64", "int64": "I64", "int32": "I32",
          "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL"}
_FROM_ST = {v: k for k, v in _TO_ST.items()}
MAX_HEADER = 100 * 1024 * 1024



def write(path: str | Path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None,
          progress: Progress | None = None) -> None:
    """``progress(done, total)`` is called per tensor written."""
    header: dict = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    offset = 0
    names = sorted(tensors)
    for k in names:
        t = tensors[k]
        if str(t.dtype) not in _TO_ST:
            raise ValueError(f"{k}: dtype {t.dtype} cannot be stored")
        header[k] = {"dtype": _TO_ST[str(t.dtype)], "shape": list(t.shape), "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    raw = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    raw += b" " * (-len(raw) % 8)
    tick = Ticker(progress, len(names))
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for k in names:
            _write_array(f, tensors[k])
            tick()
    tick.finish()


# A strided view (a transposed weight) is laid out this many bytes of rows at a time, so
# writing it never holds a contiguous copy of the whole tensor.
_VIEW_CHUNK_BYTES = 16 * 2**20


def _write_array(f: BinaryIO, t: np.ndarray) -> None:
    if t.ndim and t.size and not t.flags.c_contiguous:
        rows = max(1, _VIEW_CHUNK_BYTES // t[0].nbytes) if t[0].nbytes else t.shape[0]
        for i in range(0, t.shape[0], rows):
            _write_array(f, np.ascontiguousarray(t[i:i + rows]))
        return
    a = np.ascontiguousarray(t)
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    f.write(memoryview(a.reshape(-1).view(np.uint8)))


def _header(path: Path, size: int) -> tuple[dict, int]:
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ValueError("file too short for a safetensors header")
        (n,) = struct.unpack("<Q", head)
        if n > min(MAX_HEADER, size - 8):
            raise ValueError(f"header length {n} exceeds the file")
        header = json.loads(f.read(n))
    if not isinstance(header, dict):
        raise ValueError("safetensors header is not a JSON object")
    return header, 8 + n


def header(path: str | Path) -> dict:
    """The JSON header alone (tensor entries unchecked; ``read`` checks them)."""
    return _header(Path(path), Path(path).stat().st_size)[0]


def read(path: str | Path, mmap: bool = True) -> dict[str, np.ndarray]:
    path = Path(path)
    size = path.stat().st_size
    header, base = _header(path, size)
    data = np.memmap(path, dtype=np.uint8, mode="r") if mmap and size > base else None
    out: dict[str, np.ndarray] = {}
    for k, info in header.items():
        if k == "__metadata__":
            continue
        if not isinstance(info, dict) or info.get("dtype") not in _FROM_ST:
            raise ValueError(f"tensor {k!r}: bad header entry")
        dtype = numpy_dtype(_FROM_ST[info["dtype"]])
        start, end = (int(x) for x in info["data_offsets"])
        shape = tuple(int(d) for d in info["shape"])
        if any(d < 0 for d in shape):
            raise ValueError(f"tensor {k!r}: negative dimension in shape {shape}")
        # Exact integer arithmetic: np.prod would wrap around for a hostile shape and
        # let an absurd shape pass the offset check below.
        count = math.prod(shape)
        if count > MAX_TENSOR_ELEMENTS:
            raise ValueError(f"tensor {k!r}: declared shape {shape} exceeds {MAX_TENSOR_ELEMENTS} elements")
        if start < 0 or end > size - base or end - start != count * dtype.itemsize:
            raise ValueError(f"tensor {k!r}: offsets {start}..{end} do not fit shape {shape} in the file")
        if data is not None:
            arr = data[base + start: base + end].view(dtype).reshape(shape)
        else:
            with open(path, "rb") as f:
                f.seek(base + start)
                arr = np.frombuffer(f.read(end - start), dtype=dtype).reshape(shape)
        out[k] = arr
    return out
