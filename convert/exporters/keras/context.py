"""The context Keras export handlers build the functional model through."""
from __future__ import annotations

import re
from typing import Any

import numpy as np

from ...errors import UnsupportedAttributeError
from ...ir.graph import Graph, Node
from ...ir.optable import attr_value as attr  # noqa: F401  (re-exported for the handlers)
from .. import channels_last as L
from .fusion import fused_name
from ...naming import fresh

_NAME = re.compile(r"[^A-Za-z0-9_.\-]")




def unsupported_attr(attribute: str, value: Any, hint: str = "") -> UnsupportedAttributeError:
    return UnsupportedAttributeError(attribute, value, hint)


class KerasContext:
    def __init__(self, graph: Graph, fused: dict[str, Node] | None = None):
        from ...importers.keras.backend import import_keras

        keras = import_keras()
        self.keras = keras
        self.layers = keras.layers
        self.graph = graph
        self.values: dict[str, tuple[Any, L.Perm]] = {}
        self.flat_rows: dict[str, np.ndarray] = {}  # Flatten outputs whose order the next Dense absorbs
        self.done: set[str] = set()
        self.consumers = graph.consumers()
        self.graph_outputs = {v.name for v in graph.outputs}
        self.node: Node | None = None
        self._names: set[str] = set()
        self._named_ops: set[int] = set()
        self._layer_used: set[str] = set()
        self._cache: dict[tuple[str, L.Perm], Any] = {}
        self.fused = fused or {}  # value -> the activation node its Conv/Dense layer absorbs
        self._ir_shapes: dict | None = None

    # -- names ---------------------------------------------------------------
    def unique(self, base: str) -> str:
        base = _NAME.sub("_", base).strip("_") or "layer"
        name = fresh(base, self._names)
        self._names.add(name)
        return name

    def name(self, node: Node, suffix: str = "") -> str:
        """A layer name from the source layer (first layer of a source layer keeps it exactly)."""
        base = node.source.layer_name if node.source and node.source.layer_name else node.name
        if suffix or base in self._layer_used:
            return self.unique(f"{base}_{suffix}" if suffix else node.name)
        self._layer_used.add(base)
        return self.unique(base)

    # -- values ----------------------------------------------------------------
    def weight(self, value: str) -> np.ndarray | None:
        return self.graph.weights.get(value) if value else None

    def put(self, value: str, tensor: Any, perm: L.Perm | None = None) -> None:
        self._name_operation(tensor)
        if value:
            self.values[value] = (tensor, tuple(perm) if perm is not None else L.identity(len(tensor.shape)))

    def _name_operation(self, tensor: Any) -> Any:
        """Give the ``keras.ops`` operation that made ``tensor`` a name unique among the
        layers' (Keras names operations from a global counter, so ``keras.ops.reshape``
        could take a name a layer of this model already has)."""
        made_by = getattr(tensor, "_keras_history", None)
        op = made_by[0] if made_by is not None else None
        if op is not None and not isinstance(op, self.layers.Layer) and id(op) not in self._named_ops:
            self._named_ops.add(id(op))
            op.name = self.unique(op.name)
        return tensor

    def perm(self, value: str) -> L.Perm:
        return self._get_entry(value)[1]

    def _get_entry(self, value: str):
        if value not in self.values:
            if value in self.graph.weights:
                raise unsupported_attr("input", value, "a constant tensor operand has no Keras layer")
            raise unsupported_attr("input", value, "produced by an unsupported node")
        return self.values[value]

    def raw(self, value: str) -> tuple[Any, L.Perm]:
        return self._get_entry(value)

    def get(self, value: str, want: L.Perm | None = None) -> Any:
        """The Keras tensor for ``value`` laid out as ``want`` (IR order by default);
        a Permute layer (a ``keras.ops.transpose`` where the batch axis moves) is added
        only when the layout differs, and reused."""
        t, have = self._get_entry(value)
        want = L.identity(len(have)) if want is None else tuple(want)
        if have == want:
            return t
        key = (value, want)
        if key not in self._cache:
            r = L.relayout(have, want)
            if r[0] != 0:  # a Permute layer keeps the batch first; keras.ops.transpose moves it
                self._cache[key] = self._name_operation(self.keras.ops.transpose(t, tuple(r)))
            else:
                self._cache[key] = self.layers.Permute(r[1:], name=self.unique(f"{value}_permute"))(t)
        return self._cache[key]

    def ir_shape(self, value: str) -> tuple:
        t, have = self._get_entry(value)
        return L.ir_shape(tuple(t.shape), have)

    def ir_shapes(self) -> dict:
        """The IR's inferred value shapes, computed on first use (few handlers need them)."""
        if self._ir_shapes is None:
            from ...runtime.shapes import infer_shapes

            self._ir_shapes = infer_shapes(self.graph)
        return self._ir_shapes

    def rank(self, value: str) -> int:
        return len(self._get_entry(value)[1])

    # -- layers ------------------------------------------------------------------
    def call(self, layer: Any, inputs: Any, weights: list[np.ndarray] | None = None) -> Any:
        """Call ``layer`` (building it) and load ``weights``."""
        out = layer(inputs)
        if weights is not None:
            layer.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
        return out

    def fuse_activation(self, value: str) -> tuple[str | None, str]:
        """(Keras activation string, value the layer's output stands for) for the layer
        computing ``value``: the activation after it is absorbed when fusion allows."""
        act = self.fused.get(value)
        if act is None:
            return None, value
        self.done.add(act.name)
        return fused_name(act), act.outputs[0]
