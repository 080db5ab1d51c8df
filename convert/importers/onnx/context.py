"""What ONNX op handlers work with: the node being converted, its inputs as IR values or
as constants (folded at import, so constant operands become IR attributes), shapes that
may hold symbolic dimensions, and the builder that emits IR nodes under ONNX names."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ...errors import UnsupportedAttributeError
from ...ir.builder import GraphBuilder
from ...ir.graph import Source, Value
from .read import IR_DTYPE

Dims = tuple  # ints and symbolic names (str)


class DataDependent(UnsupportedAttributeError):
    """An operand that must be known at conversion time is computed by the graph."""


def attribute_values(node) -> dict[str, Any]:
    from onnx import helper

    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        elif isinstance(v, list) and v and isinstance(v[0], bytes):
            v = [s.decode("utf-8", "replace") for s in v]
        out[a.name] = v
    return out


class ImportContext:
    def __init__(self, builder: GraphBuilder, opset: int, where: str):
        self.b = builder
        self.opset = opset
        self.where = where
        self.consts: dict[str, np.ndarray] = {}     # ONNX value -> known array
        self.symbolic: dict[str, np.ndarray] = {}   # ONNX value -> 1-D object array of int | str dims
        self.names: dict[str, str] = {}             # ONNX value -> IR value
        self.fills: dict[str, float] = {}           # ONNX value -> the scalar filling a run-time shape
        self.info: dict[str, tuple[str | None, Dims | None]] = {}  # ONNX value -> (dtype, shape)
        self.warnings: list[str] = []
        self.node = None
        self.attrs: dict[str, Any] = {}
        self.poisoned: set[str] = set()
        self.used: set[str] = set()  # values some node or the graph output reads
        self.folded_bytes = 0  # constants computed at import, against a total bound  # values downstream of an unsupported node

    # -- the node being converted ---------------------------------------
    def begin(self, node) -> None:
        self.node = node
        self.attrs = attribute_values(node)
        self.b.source = Source("onnx", node.op_type, node.name or node.output[0])

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)

    def n_inputs(self) -> int:
        return len(self.node.input)

    def has(self, i: int) -> bool:
        return i < len(self.node.input) and bool(self.node.input[i])

    def uses(self, k: int) -> bool:
        """Whether output ``k`` is read by anything (optional outputs are often named but unused)."""
        return k < len(self.node.output) and self.node.output[k] in self.used

    def name(self, i: int) -> str:
        return self.node.input[i]

    # -- inputs ------------------------------------------------------------
    def x(self, i: int) -> str:
        """Input ``i`` as an IR value ("" when omitted); a constant becomes a weight."""
        if not self.has(i):
            return ""
        return self.value(self.node.input[i])

    def value(self, onnx_name: str) -> str:
        if onnx_name in self.names:
            return self.names[onnx_name]
        if onnx_name in self.consts:
            w = self.b.weight(onnx_name, self.consts[onnx_name], dtype=str(self.consts[onnx_name].dtype))
            self.names[onnx_name] = w
            return w
        if onnx_name in self.fills:
            raise DataDependent(onnx_name, "shape", "a constant filled to a run-time shape (ConstantOfShape) "
                                "is read as a tensor; only a recurrent layer's zero initial state is supported")
        if onnx_name in self.symbolic:
            raise DataDependent(onnx_name, "shape", "a tensor computed from a symbolic shape "
                                "(a data-dependent shape the targets cannot hold statically)")
        raise KeyError(onnx_name)

    def const(self, i: int, what: str) -> np.ndarray:
        """Input ``i``, which must be known at conversion time."""
        name = self.node.input[i]
        if name in self.consts:
            return self.consts[name]
        raise DataDependent(what, name, "must be a constant (it is computed at run time, or depends on a "
                                        "dynamic dimension)")

    def maybe_const(self, i: int) -> np.ndarray | None:
        return self.consts.get(self.node.input[i]) if self.has(i) else None

    def dims(self, i: int, what: str) -> np.ndarray:
        """A 1-D shape-like input: ints, or symbolic names where it depends on a dynamic dimension."""
        name = self.node.input[i]
        if name in self.symbolic:
            return self.symbolic[name]
        return self.const(i, what).astype(object)

    def shape(self, i: int) -> Dims | None:
        return self.info.get(self.node.input[i], (None, None))[1]

    def dtype(self, i: int) -> str | None:
        name = self.node.input[i]
        if name in self.consts:
            return str(self.consts[name].dtype)
        return self.info.get(name, (None, None))[0]

    def rank(self, i: int) -> int | None:
        s = self.shape(i)
        return None if s is None else len(s)

    # -- outputs -----------------------------------------------------------
    def emit(self, op: str, inputs: Sequence[str], attrs: dict | None = None, outputs: Sequence[int] | None = None) -> list[str]:
        """An IR node producing the ONNX node's outputs (``outputs``: which ones, default all)."""
        idx = range(len(self.node.output)) if outputs is None else outputs
        onnx_outs = [self.node.output[k] if k < len(self.node.output) else "" for k in idx]
        outs = self.b.node(op, list(inputs), attrs, name=self.node.name or self.node.op_type,
                           outputs=[o or "" for o in onnx_outs])
        for o, ir in zip(onnx_outs, outs):
            if o:
                self.bind(o, ir)
        return outs

    def tmp(self, op: str, inputs: Sequence[str], **attrs: Any) -> str:
        """An intermediate IR value (for ops that need several IR nodes)."""
        base = (self.node.name or self.node.op_type) + "/" + op
        return self.b.node(op, list(inputs), attrs, name=base, outputs=[base])[0]

    def bind(self, onnx_name: str, ir_name: str) -> None:
        self.names[onnx_name] = ir_name
        dtype, shape = self.info.get(onnx_name, (None, None))
        if dtype is not None and ir_name not in self.b.graph.values:
            self.b.graph.values[ir_name] = Value(ir_name, dtype, shape)

    def alias(self, k: int, ir_name: str) -> None:
        """Output ``k`` is the IR value ``ir_name`` (Identity, inference Dropout)."""
        if k < len(self.node.output) and self.node.output[k]:
            self.names[self.node.output[k]] = ir_name

    def set_const(self, k: int, array: Any) -> None:
        self.consts[self.node.output[k]] = np.asarray(array)

    def set_dims(self, k: int, dims: Sequence) -> None:
        """Output ``k`` is a shape tensor: constant when every dim is known."""
        arr = np.array(list(dims), dtype=object)
        if all(isinstance(d, (int, np.integer)) for d in arr):
            self.set_const(k, arr.astype(np.int64))
        else:
            self.symbolic[self.node.output[k]] = arr


def ir_dtype(elem_type: int) -> str | None:
    return IR_DTYPE.get(elem_type)
