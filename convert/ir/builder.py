"""The context importers emit IR through: unique names, weights, gathered problems."""
from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np

from ..errors import Unsupported, UnsupportedAttributeError, UnsupportedError
from .graph import Graph, Node, Source, Value
from .validate import validate
from ..naming import fresh

_SAFE = re.compile(r"[^A-Za-z0-9_./:-]")


class GraphBuilder:
    """Builds a Graph node by node. One builder per import.

    ``source`` is the layer currently being converted; every node emitted while it is
    set records it, so errors and per-layer comparisons name the original layer.
    """

    def __init__(self, name: str = "model", framework: str = ""):
        self.graph = Graph(name=name)
        self.framework = framework
        self.source: Source | None = None
        self.problems: list[Unsupported] = []
        self._names: set[str] = set()  # values and weights
        self._node_names: set[str] = set()  # a separate namespace, as in ONNX

    # -- naming ----------------------------------------------------------
    def unique(self, base: str, _space: set | None = None) -> str:
        space = self._names if _space is None else _space
        base = _SAFE.sub("_", base) or "v"
        name = fresh(base, space)
        space.add(name)
        return name

    def reserve(self, name: str) -> None:
        self._names.add(name)

    # -- emission --------------------------------------------------------
    def input(self, name: str, dtype: str = "float32", shape: Sequence | None = None) -> str:
        name = self.unique(name)
        self.graph.inputs.append(Value(name, dtype, None if shape is None else tuple(shape)))
        return name

    def output(self, value: str, dtype: str = "float32", shape: Sequence | None = None) -> None:
        self.graph.outputs.append(Value(value, dtype, None if shape is None else tuple(shape)))

    def weight(self, base: str, array: Any, dtype: str | None = None) -> str:
        arr = np.asarray(array)
        if dtype is not None:
            arr = arr.astype(dtype, copy=False)  # a weight already of that dtype is not copied
        elif arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        name = self.unique(base)
        # np.ascontiguousarray would turn a 0-d scalar into shape (1,)
        self.graph.weights[name] = arr if arr.flags.c_contiguous else np.array(arr, order="C")
        return name

    def node(self, op: str, inputs: Sequence[str], attrs: dict | None = None, *, name: str | None = None,
             outputs: int | Sequence[str] = 1, out_names: Sequence[str] | None = None) -> list[str]:
        """Emit one node; returns its output value names."""
        layer = self.source.layer_name if self.source else op
        node_name = self.unique(name or layer, self._node_names)
        if isinstance(outputs, int):
            if out_names is None:
                out_names = [node_name] if outputs == 1 else [f"{node_name}:{i}" for i in range(outputs)]
            outs = [self.unique(o) if o else "" for o in out_names]
        else:
            outs = [self.unique(o) if o else "" for o in outputs]
        clean = {k: v for k, v in (attrs or {}).items() if v is not None}
        self.graph.nodes.append(Node(op, node_name, list(inputs), outs, clean, self.source))
        return outs

    def op(self, op: str, *inputs: str, name: str | None = None, **attrs: Any) -> str:
        """Single-output shorthand: ``y = b.op("Relu", x)``."""
        return self.node(op, inputs, attrs, name=name)[0]

    # -- problems --------------------------------------------------------
    def unsupported(self, layer: str, layer_type: str, attribute: str | None = None, value: Any = None,
                    hint: str = "") -> None:
        self.problems.append(Unsupported(layer, layer_type, attribute, value, hint))

    def attribute_error(self, layer: str, layer_type: str, err: UnsupportedAttributeError) -> None:
        self.unsupported(layer, layer_type, err.attribute, err.value, err.hint)

    def finish(self, where: str = "model") -> Graph:
        """Raise every gathered problem at once, or return the validated graph."""
        if self.problems:
            raise UnsupportedError(self.problems, where)
        validate(self.graph)
        return self.graph
