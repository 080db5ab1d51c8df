"""The context ONNX export handlers emit nodes through."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ...ir.graph import Graph, numpy_dtype
from ...naming import fresh

ONNX_DTYPE = {
    "float32": 1, "uint8": 2, "int8": 3, "int16": 5, "int32": 6, "int64": 7, "bool": 9,
    "float16": 10, "float64": 11, "bfloat16": 16,
}


class OnnxNode:
    """One emitted ONNX node, kept framework-free: ``to_onnx`` turns it into a NodeProto
    (``onnx.helper.make_node``) and the file writer encodes it directly (wire.py)."""

    __slots__ = ("op_type", "input", "output", "name", "domain", "attrs")

    def __init__(self, op_type: str, inputs: list[str], outputs: list[str], name: str, domain: str,
                 attrs: dict[str, Any]):
        self.op_type, self.input, self.output = op_type, inputs, outputs
        self.name, self.domain, self.attrs = name, domain, attrs

    def proto(self):
        from onnx import helper

        return helper.make_node(self.op_type, self.input, self.output, name=self.name, domain=self.domain,
                                **self.attrs)


class OnnxContext:
    def __init__(self, graph: Graph, opset: int):
        self.graph = graph
        self.opset = opset
        self.nodes: list[OnnxNode] = []
        self.done: set[str] = set()  # IR nodes an earlier handler already wrote (the shared walk skips them)
        self.node = None  # the IR node being written
        self.initializers: dict[str, np.ndarray] = {}
        self._names = {v.name for v in graph.inputs} | set(graph.weights) | {
            o for n in graph.nodes for o in n.outputs if o}
        self._consts: dict[tuple, str] = {}
        self.functions: dict[tuple[str, str], object] = {}  # (domain, name) -> FunctionProto (plugin ops)

    def add_function(self, function) -> None:
        """Define a custom-domain op as an ONNX function (onnxruntime inlines it)."""
        self.functions.setdefault((function.domain, function.name), function)

    def unique(self, base: str) -> str:
        name = fresh(base, self._names)
        self._names.add(name)
        return name

    def emit(self, op_type: str, inputs: Sequence[str], outputs: Sequence[str] | int = 1, *,
             name: str, domain: str = "", **attrs: Any) -> list[str]:
        if isinstance(outputs, int):
            outputs = [self.unique(f"{name}/{op_type}_out{i}") for i in range(outputs)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        node_name = self.unique(name) if name in self._names else name
        self._names.add(node_name)
        self.nodes.append(OnnxNode(op_type, list(inputs), list(outputs), node_name, domain, attrs))
        return list(outputs)

    def const(self, array: Any, dtype: str = "int64", hint: str = "const") -> str:
        """An initializer holding a small constant; identical constants are shared."""
        arr = np.asarray(array, dtype=numpy_dtype(dtype))
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self._consts:
            name = self.unique(hint)
            self.initializers[name] = arr
            self._consts[key] = name
        return self._consts[key]

    def dtype(self, value: str) -> str:
        """The IR dtype of ``value`` (float32 when unrecorded)."""
        info = self.graph.value_info(value)
        return info.dtype if info is not None else "float32"

    def fconst(self, array: Any, like: str, hint: str = "const") -> str:
        """A float constant of the dtype of the value ``like`` it is combined with (ONNX
        needs both operands in one dtype; a --precision graph computes in half)."""
        return self.const(array, self.dtype(like), hint)

    def weight(self, name: str) -> np.ndarray | None:
        return self.graph.weights.get(name)
