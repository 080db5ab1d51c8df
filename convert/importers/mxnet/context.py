"""The per-node context MXNet operator handlers emit IR through.

Shapes are tracked per value (the batch dimension may be symbolic, a str) because
several MXNet operators are defined by them: Reshape's special codes, pooling's 'full'
convention, Crop, FullyConnected's flatten.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from ...errors import UnsupportedAttributeError
from ...ir.builder import GraphBuilder
from ...ir.graph import Value
from .symbol import SymNode, parse_value

Shape = tuple  # of int | str

_MISSING = object()


class State:
    """What the import knows so far: IR value and shape per (node, output)."""

    def __init__(self, builder: GraphBuilder, nodes: list[SymNode], params: dict[str, np.ndarray],
                 input_shapes: dict[str, Shape], where: str):
        self.b = builder
        self.nodes = nodes
        self.params = params
        self.input_shapes = input_shapes
        self.where = where
        self.values: dict[tuple[int, int], str] = {}
        self.shapes: dict[str, Shape] = {}
        self.zeros: dict[tuple[int, int], Shape] = {}  # outputs of batch-shaped _zeros nodes
        self.load_errors: list[str] = []
        self.used_params: set[str] = set()


class NodeContext:
    def __init__(self, state: State, node: SymNode):
        self.s = state
        self.b = state.b
        self.node = node
        self.name = node.name
        self.type = node.op

    # -- attributes --------------------------------------------------------
    def attr(self, key: str, default: Any = _MISSING) -> Any:
        if key not in self.node.attrs:
            if default is _MISSING:
                raise UnsupportedAttributeError(key, None, "required attribute is missing")
            return default
        return parse_value(self.node.attrs[key])

    def ints(self, key: str, default: Sequence[int] | None = None) -> list[int]:
        v = self.attr(key, None)
        if v is None or v == ():
            return list(default or [])
        vals = list(v) if isinstance(v, (tuple, list)) else [v]
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in vals):
            raise UnsupportedAttributeError(key, self.node.attrs[key], "expected integers")
        return vals

    def int(self, key: str, default: int | None = None) -> int:
        v = self.attr(key, default)
        if isinstance(v, bool) or not isinstance(v, int):
            raise UnsupportedAttributeError(key, self.node.attrs.get(key), "expected an integer")
        return v

    def float(self, key: str, default: float | None = None) -> float | None:
        v = self.attr(key, default)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise UnsupportedAttributeError(key, self.node.attrs.get(key), "expected a number")
        return float(v)

    def bool(self, key: str, default: bool) -> bool:
        v = self.attr(key, default)
        if isinstance(v, str):
            v = v.lower() in ("true", "1")
        return bool(v)

    def str(self, key: str, default: str | None = None) -> str | None:
        v = self.node.attrs.get(key)
        return default if v is None else v

    def choice(self, key: str, default: str, supported: Sequence[str]) -> str:
        v = self.str(key, default)
        if v not in supported:
            raise UnsupportedAttributeError(key, v, f"supported: {', '.join(supported)}")
        return v

    # -- inputs ------------------------------------------------------------
    @property
    def n_inputs(self) -> int:
        return len(self.node.inputs)

    def source(self, i: int) -> SymNode:
        return self.s.nodes[self.node.inputs[i][0]]

    def is_param(self, i: int) -> bool:
        src = self.source(i)
        return src.op == "null" and src.name in self.s.params

    def is_zeros(self, i: int) -> bool:
        return self.node.inputs[i] in self.s.zeros

    def x(self, i: int = 0) -> str:
        key = self.node.inputs[i]
        if key not in self.s.values:
            src = self.s.nodes[key[0]]
            if self.is_param(i):  # a weight used as data
                arr = self.param(i)
                self.s.values[key] = self.b.weight(src.name, arr)
                self.s.shapes[self.s.values[key]] = arr.shape
            else:
                raise UnsupportedAttributeError(f"input {i}", src.name, "value is not available")
        return self.s.values[key]

    def shape(self, i: int = 0) -> Shape:
        return self.s.shapes[self.x(i)]

    def param(self, i: int, shape: Sequence[int] | None = None) -> np.ndarray:
        """Input ``i``, which must be a stored parameter, as float32 (checked against
        the shape the operator implies)."""
        src = self.source(i)
        if src.op != "null":
            raise UnsupportedAttributeError(f"input {i}", src.name, "must be a stored parameter, not computed")
        arr = self.s.params.get(src.name)
        want = None if shape is None else tuple(int(d) for d in shape)
        if arr is None:
            self.s.load_errors.append(f"node {self.name!r} ({self.type}): no parameter {src.name!r} in the "
                                      f"params file" + (f", expected shape {want}" if want else ""))
            return np.zeros(want or (0,), np.float32)
        self.s.used_params.add(src.name)
        if want is not None and tuple(arr.shape) != want:
            self.s.load_errors.append(f"node {self.name!r} ({self.type}): parameter {src.name!r} has shape "
                                      f"{tuple(arr.shape)}, the operator implies {want}")
            return np.zeros(want, np.float32)
        return arr.astype(np.float32) if arr.dtype != np.float32 else arr

    # -- emission ----------------------------------------------------------
    def weight(self, suffix: str, array: Any, dtype: str = "float32") -> str:
        return self.b.weight(f"{self.name}/{suffix}", np.asarray(array, dtype=dtype))

    def op(self, op: str, *inputs: str, dims: Shape, hint: str | None = None, **attrs: Any) -> str:
        """A helper node inside this operator; returns its output value."""
        out = self.b.node(op, inputs, attrs, name=f"{self.name}/{hint or op.lower()}")[0]
        self.s.shapes[out] = tuple(dims)
        return out

    def out(self, op: str, inputs: Sequence[str], shape: Shape, /, index: int = 0, **attrs: Any) -> str:
        """Emit the node producing output ``index`` of this operator."""
        name = self.name if index == 0 else f"{self.name}:{index}"
        out = self.b.node(op, inputs, attrs, name=name, out_names=[name], outputs=1)[0]
        self.set_out(index, out, shape)
        return out

    def outs(self, op: str, inputs: Sequence[str], shapes: Sequence[Shape], /, **attrs: Any) -> list[str]:
        names = [f"{self.name}:{k}" for k in range(len(shapes))]
        outs = self.b.node(op, inputs, attrs, name=self.name, outputs=len(shapes), out_names=names)
        for k, (o, s) in enumerate(zip(outs, shapes)):
            self.set_out(k, o, s)
        return outs

    def set_out(self, index: int, value: str, shape: Shape) -> None:
        shape = tuple(shape)
        self.s.values[(self.node.index, index)] = value
        self.s.shapes[value] = shape
        self.b.graph.values[value] = Value(value, "float32", shape)

    def same(self, op: str, i: int = 0, **attrs: Any) -> str:
        """An operator whose output has the shape of input ``i``."""
        return self.out(op, [self.x(i)], self.shape(i), **attrs)


def numel(shape: Shape) -> int | None:
    """Element count, None when a dimension is symbolic."""
    return None if any(isinstance(d, str) for d in shape) else math.prod(shape)
