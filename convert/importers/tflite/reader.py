"""Read a LiteRT flatbuffer into plain structures, checking every size against the bytes
behind it before any array is made (the file is untrusted)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import ModelLoadError
from ...limits import check_elements
from ...exporters.tflite.schema import TENSOR_TYPES, schema

_NUMPY = {"FLOAT32": np.float32, "FLOAT16": np.float16, "INT32": np.int32, "INT64": np.int64, "INT8": np.int8,
          "UINT8": np.uint8, "BOOL": np.bool_, "INT16": np.int16, "FLOAT64": np.float64}
_IR_DTYPE = {v: k for k, v in TENSOR_TYPES.items()}


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple          # -1 marks a dynamic dimension (from shape_signature)
    dtype: str            # LiteRT type name, e.g. FLOAT32
    data: np.ndarray | None = None
    scale: np.ndarray | None = None   # quantization, when present
    zero_point: np.ndarray | None = None
    axis: int = 0
    variable: bool = False  # a state tensor (RNN), zero unless its buffer says otherwise

    @property
    def ir_dtype(self) -> str | None:
        return _IR_DTYPE.get(self.dtype)


@dataclass
class Op:
    index: int
    code: str             # BuiltinOperator name, e.g. CONV_2D
    inputs: list[int]     # -1: an omitted optional input
    outputs: list[int]
    options: Any = None   # the generated *OptionsT object
    custom: str = ""


@dataclass
class TFLiteFile:
    tensors: list[Tensor]
    ops: list[Op]
    inputs: list[int]
    outputs: list[int]
    description: str = ""
    extra: dict = field(default_factory=dict)


def _names(cls) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def read(path: str, data: bytes) -> TFLiteFile:
    S = schema()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelLoadError(path, "not a LiteRT flatbuffer (no TFL3 identifier)")
    model = S.ModelT.InitFromPackedBuf(data, 0)
    if not model.subgraphs:
        raise ModelLoadError(path, "the model has no subgraph")
    if len(model.subgraphs) > 1:
        raise ModelLoadError(path, f"{len(model.subgraphs)} subgraphs (control flow): only single-graph "
                                   "models are read")
    sub = model.subgraphs[0]
    types, ops = _names(S.TensorType), _names(S.BuiltinOperator)
    buffers = model.buffers or []
    tensors = []
    for i, t in enumerate(sub.tensors or []):
        name = t.name.decode("utf-8", "replace") if isinstance(t.name, bytes) else str(t.name or f"t{i}")
        dtype = types.get(t.type, f"type {t.type}")
        shape = [int(d) for d in (t.shapeSignature if t.shapeSignature is not None else t.shape if t.shape
                                  is not None else [])]
        arr = None
        buf = buffers[t.buffer] if 0 < t.buffer < len(buffers) else None
        stored = _stored(path, name, buf, data)
        if stored is not None and len(stored):
            if dtype not in _NUMPY or any(d < 0 for d in shape):
                raise ModelLoadError(path, f"tensor {name!r}: constant of type {dtype} / shape {shape}")
            n = check_elements(path, f"tensor {name!r}", shape)
            raw = stored
            if raw.size != n * np.dtype(_NUMPY[dtype]).itemsize:
                raise ModelLoadError(path, f"tensor {name!r}: shape {shape} needs {n * np.dtype(_NUMPY[dtype]).itemsize}"
                                           f" bytes, its buffer holds {raw.size}")
            arr = raw.view(_NUMPY[dtype]).reshape(shape).copy()
        tensor = Tensor(i, name, tuple(shape), dtype, arr, variable=bool(t.isVariable))
        q = t.quantization
        if q is not None and q.scale is not None and len(q.scale):
            tensor.scale = np.asarray(q.scale, np.float32)
            tensor.zero_point = np.asarray(q.zeroPoint if q.zeroPoint is not None else [0], np.int64)
            tensor.axis = int(q.quantizedDimension or 0)
        tensors.append(tensor)
    codes = model.operatorCodes or []
    out_ops = []
    for i, o in enumerate(sub.operators or []):
        if not 0 <= o.opcodeIndex < len(codes):
            raise ModelLoadError(path, f"operator {i}: opcode index {o.opcodeIndex} out of range")
        oc = codes[o.opcodeIndex]
        code = max(int(oc.builtinCode or 0), int(oc.deprecatedBuiltinCode or 0))
        custom = oc.customCode.decode("utf-8", "replace") if oc.customCode else ""
        ins, outs = [int(x) for x in (o.inputs if o.inputs is not None else [])], \
            [int(x) for x in (o.outputs if o.outputs is not None else [])]
        if any(x >= len(tensors) or x < -1 for x in ins + outs):
            raise ModelLoadError(path, f"operator {i}: tensor index out of range")
        out_ops.append(Op(i, "CUSTOM" if custom else ops.get(code, f"op {code}"), ins, outs, o.builtinOptions, custom))
    ins, outs = [int(x) for x in sub.inputs], [int(x) for x in sub.outputs]
    if any(not 0 <= x < len(tensors) for x in ins + outs):
        raise ModelLoadError(path, "graph input/output index out of range")
    return TFLiteFile(tensors, out_ops, ins, outs)


def _stored(path: str, name: str, buf, data: bytes) -> np.ndarray | None:
    """A buffer's bytes: inline, or at Buffer.offset/size after the flatbuffer (checked
    against the file's length)."""
    if buf is None:
        return None
    offset, size = int(buf.offset or 0), int(buf.size or 0)
    if offset > 1:
        if offset + size > len(data):
            raise ModelLoadError(path, f"tensor {name!r}: its {size} bytes at offset {offset} lie past the "
                                       f"end of the file ({len(data)} bytes)")
        return np.frombuffer(data, np.uint8, count=size, offset=offset)
    return None if buf.data is None else np.asarray(buf.data, dtype=np.uint8)
