"""The context LiteRT operator handlers emit IR through.

LiteRT is channels-last: IR values keep the file's NHWC layout, and each layout-sensitive
op is wrapped in Transposes to and from the IR's channels-first form (the transposes pass
cancels the pairs that meet between consecutive ops)."""
from __future__ import annotations

import numpy as np

from ...errors import UnsupportedAttributeError
from ...ir.builder import GraphBuilder
from .reader import Tensor, TFLiteFile

# LiteRT fused activations as IR ops (op, attrs)
FUSED = {1: ("Relu", {}), 2: ("Clip", {"min": -1.0, "max": 1.0}), 3: ("Clip", {"min": 0.0, "max": 6.0}),
         4: ("Tanh", {})}


def unsupported_attr(attribute: str, value, hint: str = "") -> UnsupportedAttributeError:
    return UnsupportedAttributeError(attribute, value, hint)


def dequantize(t: Tensor) -> np.ndarray:
    """Float values of a quantized or fp16 constant."""
    data = t.data
    if data.dtype == np.float16:
        return data.astype(np.float32)
    if t.scale is None:
        return data
    shape = [1] * data.ndim
    if t.scale.size > 1:
        shape[t.axis] = -1
    zp = t.zero_point if t.zero_point is not None and t.zero_point.size else np.zeros(1)
    return ((data.astype(np.float32) - zp.reshape(shape if zp.size > 1 else [1] * data.ndim))
            * t.scale.reshape(shape)).astype(np.float32)


class TFLiteImportContext:
    def __init__(self, f: TFLiteFile, b: GraphBuilder):
        self.f, self.b = f, b
        self.values: dict[int, str] = {}
        self.consts: dict[int, np.ndarray] = {}  # DEQUANTIZE outputs of constants
        self.tensor_values: dict[str, str] = {}  # tensor name -> IR value holding it exactly
        self.dequantized: list[str] = []

    def tensor(self, t: int) -> Tensor:
        return self.f.tensors[t]

    def shape(self, t: int) -> tuple:
        return self.f.tensors[t].shape

    def array(self, t: int) -> np.ndarray | None:
        """A constant operand as float (int8/fp16 weights dequantized, and remembered for a warning)."""
        if t < 0:
            return None
        if t in self.consts:
            return self.consts[t]
        ten = self.f.tensors[t]
        if ten.data is None:
            return None
        if ten.data.dtype in (np.float16,) or (ten.scale is not None and ten.data.dtype.kind in "iu"):
            self.dequantized.append(ten.name)
            return dequantize(ten)
        return ten.data

    def value(self, t: int) -> str:
        """The IR value of tensor ``t``: computed, or a weight for a constant."""
        if t in self.values:
            return self.values[t]
        arr = self.array(t)
        if arr is None:
            raise unsupported_attr("input", self.f.tensors[t].name, "produced by an unsupported operator")
        self.values[t] = self.b.weight(self.f.tensors[t].name, arr)
        return self.values[t]

    def set(self, t: int, value: str) -> None:
        self.values[t] = value
        self.tensor_values[self.f.tensors[t].name] = value

    def activation(self, value: str, code: int | None) -> str:
        if not code:
            return value
        if code not in FUSED:
            raise unsupported_attr("fused_activation_function", code)
        op, attrs = FUSED[code]
        return self.b.op(op, value, **attrs)

    def to_nchw(self, value: str, rank: int = 4) -> str:
        return self.b.op("Transpose", value, perm=[0, rank - 1, *range(1, rank - 1)])

    def to_nhwc(self, value: str, rank: int = 4) -> str:
        return self.b.op("Transpose", value, perm=[0, *range(2, rank), 1])
