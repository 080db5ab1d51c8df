"""Reading an ONNX file safely: the protobuf without its external data, then every
external tensor read once, straight into its numpy array, from a file that must lie
inside the model's folder and hold the bytes the tensor declares."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...errors import ModelLoadError
from ...limits import check_elements

# ONNX TensorProto.DataType -> IR dtype (the types the IR carries).
IR_DTYPE = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 9: "bool",
            10: "float16", 11: "float64", 16: "bfloat16"}
ONNX_TYPE_NAMES = {0: "undefined", 4: "uint16", 8: "string", 12: "uint32", 13: "uint64", 14: "complex64",
                   15: "complex128", 17: "float8e4m3fn", 18: "float8e4m3fnuz", 19: "float8e5m2",
                   20: "float8e5m2fnuz", 21: "uint4", 22: "int4", 23: "float4e2m1"}


def type_name(elem_type: int) -> str:
    return IR_DTYPE.get(elem_type) or ONNX_TYPE_NAMES.get(elem_type, f"type {elem_type}")


# External tensors at least this large stay on disk until the importer reads each one
# straight into its numpy array: shape inference then never copies their bytes (it
# serialises the whole model, twice). Smaller ones (shapes, axes) are loaded into the
# proto so that shape inference can propagate their values.
DEFERRED_BYTES = 64 * 1024


def read_model(path: str):
    """The ModelProto at ``path``; every external tensor checked against its file, the
    small ones loaded into the proto, large initializers left for ``to_array``."""
    import onnx

    size = os.path.getsize(path)
    if size == 0:
        raise ModelLoadError(path, "empty file")
    model = onnx.load(str(path), load_external_data=False)
    if not model.HasField("graph"):
        raise ModelLoadError(path, "holds no ONNX graph (not an ONNX model?)")
    base = Path(path).resolve().parent
    top = len(model.graph.initializer)  # _tensors yields the top-level initializers first
    for k, t in enumerate(_tensors(model.graph)):
        if t.data_location == onnx.TensorProto.EXTERNAL:
            target, offset, need = _external(t, base, path)
            if not (k < top and need >= DEFERRED_BYTES and t.data_type != onnx.TensorProto.BFLOAT16):
                _inline(t, target, offset, need)
    return model


def inline_external(model, where: str) -> None:
    """Load the tensors ``read_model`` left on disk into the proto (for onnxruntime, which
    gets the model as bytes)."""
    import onnx

    for t in _tensors(model.graph):
        if t.data_location == onnx.TensorProto.EXTERNAL:
            _inline(t, *_external(t, Path(where).resolve().parent, where))


def _inline(t, target: Path, offset: int, need: int) -> None:
    with open(target, "rb") as f:
        f.seek(offset)
        t.raw_data = f.read(need)
    t.data_location = 0  # TensorProto.DEFAULT
    del t.external_data[:]


def _tensors(graph):
    """Initializers and Constant-node tensors, subgraphs included."""
    yield from graph.initializer
    for n in graph.node:
        for a in n.attribute:
            if a.HasField("t"):
                yield a.t
            if a.HasField("g"):
                yield from _tensors(a.g)
            for g in a.graphs:
                yield from _tensors(g)


def _external(t, base: Path, path: str) -> tuple[Path, int, int]:
    """(file, offset, bytes) of an external tensor, checked: inside the model's folder, and
    holding the bytes the tensor's shape needs."""
    info = {e.key: e.value for e in t.external_data}
    loc = info.get("location", "")
    target = (base / loc).resolve()
    if not loc or os.path.isabs(loc) or base not in target.parents:
        raise ModelLoadError(path, f"tensor {t.name!r}: external data location {loc!r} is outside the model's folder")
    if not target.is_file():
        raise ModelLoadError(path, f"tensor {t.name!r}: external data file {loc!r} is missing")
    try:
        offset, length = int(info.get("offset", 0)), int(info.get("length", -1))
    except ValueError:
        raise ModelLoadError(path, f"tensor {t.name!r}: external data offset/length are not integers") from None
    n = check_elements(path, f"tensor {t.name!r}", t.dims)
    dtype = IR_DTYPE.get(t.data_type)
    if dtype is None:
        raise ModelLoadError(path, f"tensor {t.name!r}: external data of type {type_name(t.data_type)}")
    need = n * itemsize_of(t)
    available = target.stat().st_size - offset
    if offset < 0 or (length >= 0 and length != need) or available < need:
        raise ModelLoadError(path, f"tensor {t.name!r}: declares {need} bytes at offset {offset} of {loc!r}, "
                                   f"which holds {max(available, 0)} there (truncated or hostile file?)")
    return target, offset, need


def itemsize_of(t) -> int:
    return np.dtype("uint16" if t.data_type == 16 else IR_DTYPE[t.data_type]).itemsize


def to_array(t, where: str) -> np.ndarray:
    """A TensorProto as a numpy array, its declared size checked against its bytes first."""
    from onnx import TensorProto, numpy_helper

    if t.data_type not in IR_DTYPE:
        raise ModelLoadError(where, f"tensor {t.name!r} has type {type_name(t.data_type)}, which the IR has no "
                                    "dtype for")
    if t.data_location == TensorProto.EXTERNAL:  # left on disk by read_model: read once, checked
        target, offset, need = _external(t, Path(where).resolve().parent, where)
        if t.data_type != TensorProto.BFLOAT16:
            arr = np.fromfile(target, dtype=IR_DTYPE[t.data_type], count=need // itemsize_of(t), offset=offset)
            return arr.reshape(tuple(t.dims))
        _inline(t, target, offset, need)
    n = check_elements(where, f"tensor {t.name!r}", t.dims)
    itemsize = itemsize_of(t)
    if t.HasField("raw_data") and len(t.raw_data) != n * itemsize:
        raise ModelLoadError(where, f"tensor {t.name!r}: shape {tuple(t.dims)} needs {n * itemsize} bytes, "
                                    f"the file holds {len(t.raw_data)}")
    return numpy_helper.to_array(t)
