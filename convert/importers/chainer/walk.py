"""Walk a Chainer computation graph into the IR. Runs inside Chainer's own interpreter
(see ``chainer_script.py``), so it imports only numpy, the standard library and the IR.

From the output variable back through ``creator_node`` function nodes (as onnx-chainer
did): every function node is one handler call, in rank order (a node's rank exceeds its
inputs'); leaf variables are the graph input or stored arrays (parameters, BatchNorm
statistics), named after their link path.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ...errors import UnsupportedAttributeError, UnsupportedError, Unsupported
from ...ir.builder import GraphBuilder
from ...ir.graph import Graph, Source, Value
from ...ir.validate import validate
from .registry import CHAINER_FUNCTIONS


class FnContext:
    """What a handler sees: its inputs' IR values, shapes and constant arrays."""

    def __init__(self, walker: "Walker", fn, name: str):
        self.w = walker
        self.b = walker.b
        self.fn = fn
        self.name = name

    def x(self, i: int = 0) -> str:
        return self.w.value(self.fn.inputs[i], self.w.captured(self.fn, i))

    def shape(self, i: int = 0) -> tuple:
        return tuple(self.fn.inputs[i].shape)

    def array(self, i: int) -> np.ndarray:
        """Input ``i`` as a constant array (a parameter or a stored statistic)."""
        node = self.fn.inputs[i]
        if node.creator_node is not None:
            raise UnsupportedAttributeError(f"input {i}", "computed", "must be a stored array")
        return np.asarray(self.w.data(node, self.w.captured(self.fn, i)), np.float32)

    @property
    def n_inputs(self) -> int:
        return len(self.fn.inputs)

    def attr(self, key: str, default: Any = None) -> Any:
        return getattr(self.fn, key, default)

    def weight(self, suffix: str, array: Any, dtype: str = "float32") -> str:
        return self.b.weight(f"{self.name}/{suffix}", np.asarray(array, dtype=dtype))

    def op(self, op: str, *inputs: str, **attrs: Any) -> str:
        return self.b.node(op, inputs, attrs, name=f"{self.name}/{op.lower()}")[0]

    def out(self, op: str, inputs: Sequence[str], /, index: int = 0, **attrs: Any) -> str:
        name = self.name if index == 0 else f"{self.name}:{index}"
        v = self.b.node(op, inputs, attrs, name=name, out_names=[name])[0]
        self.set_out(index, v)
        return v

    def set_out(self, index: int, value: str) -> None:
        ref = self.fn.outputs[index]()
        if ref is not None:
            self.w.values[id(ref)] = value
            self.b.graph.values[value] = Value(value, "float32", tuple(ref.shape))

    def out_shape(self, index: int = 0) -> tuple | None:
        ref = self.fn.outputs[index]()
        return None if ref is None else tuple(ref.shape)


class Walker:
    def __init__(self, link, inputs: dict[str, Any], output, name: str, in_data: dict | None = None):
        self.b = GraphBuilder(name, "chainer")
        self.in_data = in_data or {}  # id(function node) -> the input arrays it was called with
        self.values: dict[int, str] = {}
        self.names: dict[int, str] = {}  # id(array) -> link path
        for path, p in link.namedparams():
            if p.array is not None:
                self.names[id(p.array)] = path.lstrip("/")
        for path, sub in link.namedlinks():
            for key in getattr(sub, "_persistent", ()):  # BatchNorm statistics
                a = getattr(sub, key, None)
                if isinstance(a, np.ndarray):
                    self.names[id(a)] = f"{path}/{key}".lstrip("/")
        for name, var in inputs.items():
            v = self.b.input(name, "float32", tuple(var.shape))
            self.values[id(var.node)] = v
        self.output = output

    def captured(self, fn, i: int):
        arrays = self.in_data.get(id(fn))
        return None if arrays is None or i >= len(arrays) else arrays[i]

    def data(self, node, fallback=None) -> np.ndarray:
        arr = node.data
        if arr is None:
            arr = fallback
        if arr is None:
            var = node.get_variable_or_none()
            arr = None if var is None else var.array
        if arr is None:
            raise UnsupportedAttributeError("input", node.name or "array", "its data is not retained")
        return arr

    def value(self, node, fallback=None) -> str:
        key = id(node)
        if key not in self.values:
            if node.creator_node is not None:
                raise UnsupportedAttributeError("input", node.name, "produced by a function that was not converted")
            arr = self.data(node, fallback)
            base = self.names.get(id(arr), "const")
            self.values[key] = self.b.weight(base, np.asarray(arr, np.float32 if arr.dtype.kind == "f" else arr.dtype))
        return self.values[key]

    def functions(self) -> list:
        seen, stack, out = set(), [self.output.creator_node], []
        while stack:
            fn = stack.pop()
            if fn is None or id(fn) in seen:
                continue
            seen.add(id(fn))
            out.append(fn)
            stack.extend(v.creator_node for v in fn.inputs)
        out.sort(key=lambda f: f.rank)
        return out

    def run(self, where: str) -> Graph:
        fns = self.functions()
        problems = [Unsupported(f"{type(f).__name__}#{k}", type(f).__name__, hint="no handler for this Chainer function")
                    for k, f in enumerate(fns) if CHAINER_FUNCTIONS.lookup(type(f).__name__) is None]
        if problems:
            raise UnsupportedError(problems, where)
        counts: dict[str, int] = {}
        for fn in fns:
            kind = type(fn).__name__
            counts[kind] = counts.get(kind, 0) + 1
            name = f"{kind}{counts[kind]}"
            self.b.source = Source("chainer", kind, name)
            try:
                CHAINER_FUNCTIONS.lookup(kind)(FnContext(self, fn, name), fn)
            except UnsupportedAttributeError as e:
                self.b.attribute_error(name, kind, e)
            self.b.source = None
        if self.b.problems:
            raise UnsupportedError(self.b.problems, where)
        out = self.values[id(self.output.node)]
        self.b.output(out, "float32", tuple(self.output.shape))
        validate(self.b.graph)
        return self.b.graph
