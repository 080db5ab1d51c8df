"""MXNet's NDArray list format (``name-0000.params``, ``mx.nd.save``), read without MXNet.

Layout (little-endian), as written by MXNet 1.x ``NDArray::Save``:
  uint64 0x112 (list magic), uint64 reserved,
  uint64 count, count x NDArray, uint64 count, count x (uint64 length, name bytes).
  NDArray: uint32 magic (0xF993FAC9 v2, 0xF993FACA v3; anything else is the pre-1.0
  layout where this word is ndim and dims are uint32), int32 storage type (v2/v3; 0 =
  dense), int32 ndim, int64 dims, int32 dev_type, int32 dev_id, int32 type flag, data.

Every count and size is checked against the bytes left in the file before anything is
allocated: the file is untrusted.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from ...errors import ModelLoadError
from ...limits import check_elements

LIST_MAGIC = 0x112
V2_MAGIC = 0xF993FAC9
V3_MAGIC = 0xF993FACA
MAX_NDIM = 32
# mshadow type flags
DTYPES = {0: np.float32, 1: np.float64, 2: np.float16, 3: np.uint8, 4: np.int32, 5: np.int8, 6: np.int64,
          7: np.bool_, 8: np.int16}
_MIN_ARRAY_BYTES = 12  # magic + stype + ndim: the least an array record can take


class _Reader:
    def __init__(self, path: str, f, size: int):
        self.path, self.f, self.size = path, f, size

    @property
    def left(self) -> int:
        return self.size - self.f.tell()

    def raw(self, n: int, what: str) -> bytes:
        if n > self.left:
            raise ModelLoadError(self.path, f"truncated: {what} needs {n} bytes, {self.left} left")
        return self.f.read(n)

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.raw(struct.calcsize("<" + fmt), what))

    def array(self, dtype, shape: tuple[int, ...], what: str) -> np.ndarray:
        n = check_elements(self.path, what, shape)
        nbytes = n * np.dtype(dtype).itemsize
        if nbytes > self.left:  # before allocating: the bytes must be there
            raise ModelLoadError(self.path, f"truncated: {what} declares shape {shape} ({nbytes} bytes), "
                                            f"only {self.left} bytes left")
        out = np.empty(shape, dtype)
        if nbytes and self.f.readinto(memoryview(out.reshape(-1).view(np.uint8))) != nbytes:
            raise ModelLoadError(self.path, f"short read in {what}")
        return out


def _ndarray(r: _Reader, index: int) -> np.ndarray:
    what = f"array {index}"
    (magic,) = r.unpack("I", what)
    if magic in (V2_MAGIC, V3_MAGIC):
        (stype,) = r.unpack("i", what)
        if stype != 0:
            raise ModelLoadError(r.path, f"{what}: sparse storage type {stype} is not supported (dense only)")
        (ndim,) = r.unpack("i", what)
        if ndim < 0:  # v3 "unknown shape": an empty placeholder
            return np.zeros((0,), np.float32)
        if ndim > MAX_NDIM:
            raise ModelLoadError(r.path, f"{what}: {ndim} dimensions")
        shape = r.unpack(f"{ndim}q", what) if ndim else ()
        if ndim == 0 and magic == V2_MAGIC:  # v2 writes nothing more for an empty array
            return np.zeros((0,), np.float32)
    else:  # pre-1.0: the word read is ndim, dims are uint32
        ndim = magic
        if ndim > MAX_NDIM:
            raise ModelLoadError(r.path, f"{what}: not an MXNet NDArray (magic {magic:#x})")
        shape = r.unpack(f"{ndim}I", what) if ndim else ()
        if ndim == 0:
            return np.zeros((0,), np.float32)
    r.unpack("ii", what)  # device type and id: irrelevant here
    (flag,) = r.unpack("i", what)
    if flag not in DTYPES:
        raise ModelLoadError(r.path, f"{what}: unsupported dtype flag {flag}")
    return r.array(DTYPES[flag], tuple(int(d) for d in shape), what)


def read_params(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of an MXNet ``.params`` file keyed by their stored names
    (``arg:``/``aux:`` prefixes kept)."""
    p = str(path)
    try:
        size = Path(p).stat().st_size
        f = open(p, "rb")
    except OSError as e:
        raise ModelLoadError(p, f"cannot read ({e.strerror or e})") from None
    with f:
        r = _Reader(p, f, size)
        if size < 24:
            raise ModelLoadError(p, "not an MXNet .params file (too short)")
        magic, _reserved = r.unpack("QQ", "header")
        if magic != LIST_MAGIC:
            raise ModelLoadError(p, f"not an MXNet .params file (magic {magic:#x}, expected {LIST_MAGIC:#x})")
        (count,) = r.unpack("Q", "array count")
        if count * _MIN_ARRAY_BYTES > r.left:
            raise ModelLoadError(p, f"declares {count} arrays, more than its {r.left} bytes can hold")
        arrays = [_ndarray(r, i) for i in range(count)]
        (nnames,) = r.unpack("Q", "name count")
        if nnames != count:
            # MXNet allows an unnamed list; a model file always names its arrays
            raise ModelLoadError(p, f"{count} arrays but {nnames} names")
        if nnames * 8 > r.left:
            raise ModelLoadError(p, f"declares {nnames} names, more than its {r.left} bytes can hold")
        names = []
        for i in range(nnames):
            (n,) = r.unpack("Q", f"name {i}")
            names.append(r.raw(n, f"name {i}").decode("utf-8", errors="replace"))
        if r.left:
            raise ModelLoadError(p, f"{r.left} unexpected bytes after the last name")
    if len(set(names)) != len(names):
        raise ModelLoadError(p, "duplicate array names")
    return dict(zip(names, arrays))


def split_prefixes(arrays: dict[str, np.ndarray], where: str) -> dict[str, np.ndarray]:
    """``arg:w`` / ``aux:m`` -> ``w`` / ``m`` (a bare name stays as is)."""
    out: dict[str, np.ndarray] = {}
    for name, a in arrays.items():
        key = name.split(":", 1)[1] if name.startswith(("arg:", "aux:")) else name
        if key in out:
            raise ModelLoadError(where, f"array {key!r} stored twice (as arg and aux)")
        out[key] = a
    return out



__all__ = ["read_params", "split_prefixes"]
