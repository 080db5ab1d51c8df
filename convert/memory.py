"""Arrays whose memory goes back to the system the moment they are dropped.

A weight read from a file is often a temporary: it is transposed into the IR's layout and
dropped. glibc's malloc raises its mmap threshold each time a large block is freed, so such
temporaries of a few MB soon come from the heap instead, and the holes they leave keep the
process's resident memory up (about 25 MB over ResNet-50's 98 MB of weights). An anonymous
mapping of its own is unmapped when the array is garbage, whatever the allocator does."""
from __future__ import annotations

import mmap

import numpy as np

MIN_MAPPED = 1 << 18  # smaller arrays: a page each would waste more than the heap does


def returned_empty(shape: tuple, dtype) -> np.ndarray:
    """``numpy.empty(shape, dtype)``, in its own anonymous mapping when it is large."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes < MIN_MAPPED:
        return np.empty(shape, dtype)
    return np.frombuffer(mmap.mmap(-1, nbytes), dtype).reshape(shape)


def returned_copy(arr: np.ndarray, dtype=None) -> np.ndarray:
    """A C-contiguous copy of ``arr`` (cast to ``dtype``), mapped as ``returned_empty``; at
    least 1-D, as ``numpy.ascontiguousarray`` gives."""
    arr = np.asarray(arr)
    arr = arr.reshape(1) if arr.ndim == 0 else arr
    out = returned_empty(arr.shape, arr.dtype if dtype is None else dtype)
    np.copyto(out, arr, casting="unsafe")
    return out
