"""The context Caffe export handlers append layers through.

Blob names are IR value names, so a Caffe net written here and read back by the Caffe
importer has the IR's value names (graph outputs map back by name). Layer names are the
source layer names (unique-ified), so caffe -> IR -> caffe keeps layer names.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ...errors import UnsupportedAttributeError
from ...ir.graph import Graph, Node
from ...ir.optable import attr_value as attr  # noqa: F401  (re-exported for the handlers)
from ...naming import fresh




def bad(attribute: str, value: Any, hint: str = "") -> UnsupportedAttributeError:
    return UnsupportedAttributeError(attribute, value, hint)


class Layer:
    """One Caffe layer under construction: the LayerParameter (no blobs) and its blobs."""

    def __init__(self, proto, blobs: list[np.ndarray]):
        self.proto = proto
        self.blobs = blobs


class CaffeContext:
    def __init__(self, graph: Graph, shapes: dict[str, tuple], allow_fork: bool = False,
                 other_batch: dict[str, tuple] | None = None):
        from ...caffe_proto import caffe_pb2

        self.pb = caffe_pb2
        self.graph = graph
        self.shapes = shapes
        self.allow_fork = allow_fork
        self.other_batch = other_batch or shapes  # the same shapes at another batch size
        self.layers: list[Layer] = []
        self.consumers = graph.consumers()
        self.graph_outputs = {v.name for v in graph.outputs}
        self.done: set[str] = set()  # nodes a handler has absorbed into its own layer
        self.node: Node | None = None
        self._layer_names: set[str] = set()
        self._blob_names: set[str] = set(shapes) | {o for n in graph.nodes for o in n.outputs if o}
        self._blob_names |= {v.name for v in graph.inputs}

    # -- names -------------------------------------------------------------
    def base_name(self, node: Node | None = None) -> str:
        node = node or self.node
        return node.source.layer_name if node.source and node.source.layer_name else node.name

    def layer_name(self, suffix: str = "", base: str | None = None) -> str:
        base = (base or self.base_name()) + (f"/{suffix}" if suffix else "")
        name = fresh(base, self._layer_names)
        self._layer_names.add(name)
        return name

    def tmp(self, hint: str) -> str:
        """A fresh blob name for a value between two layers of one IR node."""
        base = f"{self.node.name}/{hint}" if self.node is not None else hint
        name = fresh(base, self._blob_names)
        self._blob_names.add(name)
        return name

    # -- values ------------------------------------------------------------
    def const(self, value: str) -> np.ndarray | None:
        """The constant behind an input, or None if it is computed."""
        if not value:
            return None
        w = self.graph.weights.get(value)
        return None if w is None else np.asarray(w)

    def shape(self, value: str) -> tuple[int, ...]:
        s = self.shapes.get(value)
        if s is None or any(not isinstance(d, int) or d < 0 for d in s):
            raise bad("shape", s, f"the shape of {value!r} is not static; Caffe needs static shapes")
        return tuple(int(d) for d in s)

    def dynamic(self, value: str) -> frozenset[int]:
        """Axes of ``value`` whose size follows a symbolic input dimension (the batch)."""
        a, b = self.shapes.get(value), self.other_batch.get(value)
        if a is None or b is None or len(a) != len(b):
            return frozenset()
        return frozenset(k for k, (d, e) in enumerate(zip(a, b)) if d != e)

    def activation(self, value: str) -> str:
        """An input that must be a computed tensor (a layer's top), not a constant."""
        if value in self.graph.weights:
            raise bad("input", value, "a constant tensor used as an activation has no Caffe layer")
        return value

    def sole_consumer(self, value: str) -> Node | None:
        """The only node reading ``value``, if the value is not also a graph output."""
        users = self.consumers.get(value, [])
        if len(users) != 1 or value in self.graph_outputs:
            return None
        return users[0]

    # -- emission ----------------------------------------------------------
    def add(self, type_: str, bottoms: Sequence[str], tops: Sequence[str], *, suffix: str = "",
            blobs: Sequence[np.ndarray] = (), name: str | None = None, at: int | None = None) -> Any:
        """Append (or insert ``at``) a layer named after the current node's source layer
        (or ``name``); returns its LayerParameter to set ``*_param`` fields on."""
        lp = self.pb.LayerParameter()
        lp.name = self.layer_name(suffix, name)
        lp.type = type_
        lp.bottom.extend(bottoms)
        lp.top.extend(tops)
        layer = Layer(lp, [np.ascontiguousarray(b, dtype=np.float32) for b in blobs])
        self.layers.insert(len(self.layers) if at is None else at, layer)
        for t in tops:
            self._blob_names.add(t)
        return lp

    def power(self, x: str, y: str, *, power: float = 1.0, scale: float = 1.0, shift: float = 0.0,
              suffix: str = "") -> None:
        """Caffe Power: y = (shift + scale*x) ^ power."""
        p = self.add("Power", [x], [y], suffix=suffix).power_param
        if power != 1.0:
            p.power = power
        if scale != 1.0:
            p.scale = scale
        if shift != 0.0:
            p.shift = shift

    def crop(self, x: str, y: str, windows: dict[int, tuple[int, int]], first: bool = False) -> None:
        """y = x[start:start+size] on each axis, as Slice layers (the unused parts are
        silenced at the end of the net). ``first``: the node's own layer, named after it."""
        shape = list(self.shape(x))
        todo = [(a, s, n) for a, (s, n) in sorted(windows.items()) if (s, n) != (0, shape[a])]
        if not todo:
            self.add("Split", [x], [y], suffix="" if first else "copy")
            return
        cur = x
        for k, (axis, start, size) in enumerate(todo):
            points = [p for p in (start, start + size) if 0 < p < shape[axis]]
            tops, keep = [], None
            bounds = [0, *points, shape[axis]]
            for j, lo in enumerate(bounds[:-1]):
                if lo == start:
                    keep = j
                    tops.append(y if k == len(todo) - 1 else self.tmp(f"crop{axis}"))
                else:
                    tops.append(self.tmp(f"crop{axis}_rest{j}"))
            p = self.add("Slice", [cur], tops, suffix="" if first and k == 0 else f"crop{axis}").slice_param
            p.axis = axis
            p.slice_point.extend(points)
            cur = tops[keep]
            shape[axis] = size
