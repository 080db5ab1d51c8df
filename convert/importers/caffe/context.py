"""The per-layer context Caffe layer handlers emit IR through.

Naming rule: the IR value holding a blob's FINAL value (the last layer writing it, in
place or not) is named exactly like the blob; earlier writers of an in-place blob get
derived names ("<blob>/<LayerType>"). Node names and helper values never take a blob
name, so verification can match IR values to recorded Caffe blobs by name.
"""
from __future__ import annotations

import math

import re
from typing import Any, Sequence

import numpy as np

from ...limits import check_dims, check_elements

from ...errors import UnsupportedAttributeError
from ...ir.builder import GraphBuilder
from ...ir.graph import Node, Value
from ...naming import fresh

_SAFE = re.compile(r"[^A-Za-z0-9_./:-]")


def safe_name(name: str) -> str:
    return _SAFE.sub("_", name) or "v"


class CaffeBuilder(GraphBuilder):
    """A GraphBuilder whose generated names avoid the (protected) blob names."""

    def __init__(self, name: str, protected: set[str]):
        super().__init__(name, "caffe")
        self.protected = {safe_name(p) for p in protected}

    def unique(self, base: str) -> str:
        base = safe_name(base)
        name = fresh(base, self._names, lambda n: n in self.protected)
        self._names.add(name)
        return name

    def claim(self, blob: str) -> str:
        """The exact (sanitised) blob name, for the value holding the blob's final value."""
        name = safe_name(blob)
        self.protected.discard(name)
        if name in self._names:  # two blobs differing only in unsafe characters
            return self.unique(name)
        self._names.add(name)
        return name

    def emit(self, op: str, inputs: Sequence[str], outputs: Sequence[str], attrs: dict, name: str) -> None:
        clean = {k: v for k, v in attrs.items() if v is not None}
        self.graph.nodes.append(Node(op, self.unique(name), list(inputs), list(outputs), clean, self.source))


class NetState:
    """What the conversion knows about every blob so far."""

    def __init__(self, builder: CaffeBuilder, last_writer: dict[str, int], allow_missing: bool):
        self.b = builder
        self.values: dict[str, str] = {}  # blob -> current IR value
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.last_writer = last_writer
        self.allow_missing = allow_missing
        self.load_errors: list[str] = []
        self.zero_filled: list[str] = []
        self.warnings: list[str] = []
        self.budget = None  # limits.Budget of the files read (None: only the per-tensor bound)


class LayerContext:
    def __init__(self, state: NetState, layer, index: int, blobs: list | None):
        self.s = state
        self.b = state.b
        self.layer = layer
        self.name = layer.name
        self.type = layer.type
        self.index = index
        self.raw_blobs = blobs  # None: no weights file entry for this layer

    # -- bottoms ---------------------------------------------------------
    @property
    def n_bottoms(self) -> int:
        return len(self.layer.bottom)

    def x(self, i: int = 0) -> str:
        return self.s.values[self.layer.bottom[i]]

    def shape(self, i: int = 0) -> tuple[int, ...]:
        return self.s.shapes[self.layer.bottom[i]]

    def axis(self, axis: int, rank: int, what: str = "axis") -> int:
        """Caffe's CanonicalAxisIndex."""
        if not -rank <= axis < rank:
            raise UnsupportedAttributeError(what, axis, f"out of range for a {rank}-axis blob")
        return axis % rank

    # -- parameters (layer blobs) ----------------------------------------
    @property
    def n_blobs(self) -> int:
        return len(self.raw_blobs) if self.raw_blobs is not None else len(self.layer.blobs)

    def param(self, i: int, shape: Sequence[int]) -> np.ndarray:
        """Parameter blob ``i`` as float32 of ``shape``; checks the stored shape like
        Caffe's ShapeEquals (legacy 4-D dims may pad leading axes with 1)."""
        shape = tuple(int(d) for d in shape)
        # Shapes follow from the prototxt (num_output x channels x kernel): bound them
        # before zero-filling or reshaping, so a hostile prototxt cannot exhaust memory.
        check_elements(getattr(self.s, "where", "") or "caffe model",
                       f"layer {self.name!r} ({self.type}) weights blob {i}", shape)
        blob = self._raw(i)
        if blob is None:
            if self.s.budget is not None:
                self.s.budget.claim_zeros(f"layer {self.name!r} ({self.type}) weights blob {i}", shape)
            if not self.s.allow_missing:
                self.s.load_errors.append(f"layer {self.name!r} ({self.type}): no weights for blob {i}, expected shape {shape}")
            elif self.name not in self.s.zero_filled:
                self.s.zero_filled.append(self.name)
            return np.zeros(shape, np.float32)
        stored_shape, legacy, data = blob
        if shape == () and data.size == 1:  # a scalar, stored 0-axis or as (1,)
            ok, shown = True, ()
        elif stored_shape is not None:
            ok = tuple(stored_shape) == shape
            shown = tuple(stored_shape)
        elif legacy is not None and any(legacy):
            ok = len(shape) <= 4 and (1,) * (4 - len(shape)) + shape == tuple(legacy)
            shown = tuple(legacy)
        else:  # a 0-axis blob: no shape, no legacy dims (a scalar)
            ok = math.prod(shape) == 1 and data.size == 1
            shown = ()
        if ok and data.size != math.prod(shape):
            ok, shown = False, f"{shown} with {data.size} values"
        if not ok:
            self.s.load_errors.append(
                f"layer {self.name!r} ({self.type}): weights blob {i} has shape {shown}, the prototxt implies {shape}")
            return np.zeros(shape, np.float32)
        return np.asarray(data, dtype=np.float32).reshape(shape)

    def _raw(self, i: int):
        if self.raw_blobs is not None:
            if i >= len(self.raw_blobs):
                return None
            rb = self.raw_blobs[i]
            return rb.shape, rb.legacy, rb.data
        if i >= len(self.layer.blobs):
            return None
        pb = self.layer.blobs[i]
        legacy = (pb.num, pb.channels, pb.height, pb.width)
        data = np.asarray(pb.data, np.float32) if len(pb.data) else np.asarray(pb.double_data, np.float32)
        return (tuple(pb.shape.dim) if pb.HasField("shape") else None), legacy, data

    def claim(self, what: str, shape: Sequence[int]) -> tuple[int, ...]:
        """Check a constant this layer is about to create against the files' budget, before
        allocating it (a declared input of 40000 x 40000 must not become a 6 GB map)."""
        if self.s.budget is None:
            check_elements(getattr(self.s, "where", "") or "caffe model", f"layer {self.name!r}: {what}", shape)
        else:
            self.s.budget.claim(f"layer {self.name!r} ({self.type}): {what}", shape)
        return tuple(int(d) for d in shape)

    def weight(self, suffix: str, array: Any) -> str:
        return self.b.weight(f"{self.name}/{suffix}", np.asarray(array, dtype=np.float32))

    def const(self, suffix: str, array: Any, dtype: str = "float32") -> str:
        return self.b.weight(f"{self.name}/{suffix}", np.asarray(array, dtype=dtype))

    # -- emission --------------------------------------------------------
    def op(self, op: str, *inputs: str, hint: str | None = None, **attrs: Any) -> str:
        """A helper node inside this layer; returns its output value."""
        base = f"{self.name}/{hint or op.lower()}"
        out = self.b.unique(base)
        self.b.emit(op, inputs, [out], attrs, base)
        return out

    def top_name(self, i: int) -> str:
        blob = self.layer.top[i]
        if self.s.last_writer.get(blob) == self.index:
            return self.b.claim(blob)
        return self.b.unique(f"{blob}/{self.type}")

    def top(self, i: int, op: str, inputs: Sequence[str], shape: Sequence[int], /, **attrs: Any) -> str:
        """Emit the node producing top ``i`` and record the blob's new value and shape."""
        out = self.top_name(i)
        self.b.emit(op, inputs, [out], attrs, self.name)
        self.set_top(i, out, shape)
        return out

    def tops(self, op: str, inputs: Sequence[str], shapes: Sequence[Sequence[int]], /, **attrs: Any) -> list[str]:
        outs = [self.top_name(i) for i in range(len(self.layer.top))]
        self.b.emit(op, inputs, outs, attrs, self.name)
        for i, (o, s) in enumerate(zip(outs, shapes)):
            self.set_top(i, o, s)
        return outs

    def set_top(self, i: int, value: str, shape: Sequence[int]) -> None:
        blob = self.layer.top[i]
        shape = tuple(int(d) for d in shape)
        check_dims(getattr(self.s, "where", "") or "caffe model", f"layer {self.name!r} ({self.type}) output {blob!r}",
                   shape)
        self.s.values[blob] = value
        self.s.shapes[blob] = shape
        self.b.graph.values[value] = Value(value, "float32", shape)

    def warn(self, text: str) -> None:
        self.s.warnings.append(f"layer {self.name!r} ({self.type}): {text}")
