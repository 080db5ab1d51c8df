"""The conversion context handed to every layer handler."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ... import limits
from ...errors import ModelLoadError, UnsupportedAttributeError
from ...ir.builder import GraphBuilder
from ...ir.graph import Source
from . import layout as L
from .archive import LayerWeights


@dataclass
class Ref:
    """A Keras tensor: its Keras (channels-last) shape and the IR values holding it, per layout."""

    shape: tuple
    dtype: str = "float32"
    values: dict = field(default_factory=dict)  # layout perm -> IR value name
    input_name: str | None = None  # a graph input not declared yet (its layout is chosen on first use)
    # Keras' implicit mask of a sequence (B, T, ...): the IR value of a bool (B, T) tensor in
    # Keras order, set by Embedding(mask_zero) and Masking, carried as Keras carries it.
    mask: str | None = None

    @property
    def rank(self) -> int:
        return len(self.shape)


@dataclass
class Call:
    """One call of one Keras layer (a shared layer has one Call per use)."""

    cls: str
    name: str
    path: str  # name with enclosing model names, for messages and Source
    cfg: dict
    inputs: list[Ref]
    kwargs: dict[str, list[Ref]]
    weights: LayerWeights
    file: str = ""
    operands: list = field(default_factory=list)  # positional arguments: Refs and constants
    options: dict = field(default_factory=dict)  # constant keyword arguments of the call (use_causal_mask)

    def take(self, *shapes: Sequence | None) -> list[np.ndarray]:
        """The layer's arrays, checked against the shapes the config implies (None: any)."""
        arrays = self.weights.arrays
        ok = len(arrays) == len(shapes) and all(
            s is None or (len(s) == a.ndim and all(d is None or d == e for d, e in zip(s, a.shape)))
            for s, a in zip(shapes, arrays))
        if not ok:
            want = [None if s is None else tuple(s) for s in shapes]
            have = [tuple(a.shape) for a in arrays]
            raise ModelLoadError(self.file or "model", f"weights of layer {self.path!r} ({self.cls}) do not match "
                                 f"its config: expected {want}, file has {have}")
        return [np.asarray(a, np.float32 if a.dtype == np.float64 else None) for a in arrays]  # read here

    def get(self, key: str, default: Any = None) -> Any:
        return self.cfg.get(key, default)


class KerasContext:
    """Emits IR through a GraphBuilder and keeps the layout bookkeeping."""

    def __init__(self, builder: GraphBuilder, io_layout: str = "nhwc"):
        self.b = builder
        self.io_layout = io_layout
        self._weights: dict[tuple, str] = {}
        self.call: Call | None = None
        self.budget = None  # limits.Budget of the file being read (None for a live model)
        self.file = "model"  # named in errors

    def claim(self, what: str, shape: Sequence[int]) -> tuple[int, ...]:
        """Check a constant the importer is about to create against the file's budget
        (before allocating it); returns the shape."""
        where = self.call.path if self.call else "model"
        limits.claim(self.budget, f"layer {where!r}: {what}", shape)
        return tuple(int(d) for d in shape)

    # -- layouts -----------------------------------------------------------
    def get(self, ref: Ref, perm: Sequence[int]) -> str:
        """The IR value of ``ref`` in layout ``perm``, transposing (once) if needed."""
        perm = tuple(perm)
        if ref.input_name is not None:
            self._declare_input(ref, perm)
        if perm in ref.values:
            return ref.values[perm]
        have, value = next(iter(ref.values.items()))
        base = (self.call.name if self.call else value)
        out = self.b.op("Transpose", value, name=f"{base}/transpose", perm=list(L.between(have, perm)))
        ref.values[perm] = out
        return out

    def any(self, ref: Ref) -> tuple[str, tuple]:
        """The first materialised layout of ``ref`` (for layout-agnostic ops)."""
        if ref.input_name is not None:
            self._declare_input(ref, self.interface_perm(ref.rank))
        perm, value = next(iter(ref.values.items()))
        return value, perm

    def interface_perm(self, rank: int) -> tuple:
        return L.channels_first(rank) if self.io_layout == "nchw" else L.identity(rank)

    def _declare_input(self, ref: Ref, wanted: tuple) -> None:
        perm = self.interface_perm(ref.rank)
        name, ref.input_name = ref.input_name, None
        shape = symbolic(L.apply(ref.shape, perm), name)
        self.b.graph.inputs.append(_value(name, ref.dtype, shape))
        ref.values[perm] = name

    def ref(self, value: str, shape: Sequence, perm: Sequence[int] | None = None, dtype: str = "float32") -> Ref:
        shape = tuple(shape)
        where = f"layer {self.call.path!r} output" if self.call else f"value {value!r}"
        limits.check_dims(self.file, where, shape)
        return Ref(shape, dtype, {tuple(perm) if perm is not None else L.identity(len(shape)): value})

    # -- weights ------------------------------------------------------------
    def weight(self, key: str, make) -> str:
        """A weight of the current layer; a shared layer's weights are stored once."""
        k = (self.call.path, key)
        if k not in self._weights:
            arr = make() if callable(make) else make
            self._weights[k] = self.b.weight(f"{self.call.path}/{key}", np.asarray(arr, dtype=np.float32))
        return self._weights[k]

    def const(self, key: str, array) -> str:
        return self.weight(key, array)

    # -- emission shorthands --------------------------------------------------
    def op(self, op: str, *inputs: str, suffix: str = "", **attrs) -> str:
        name = self.call.name + (f"/{suffix}" if suffix else "")
        return self.b.op(op, *inputs, name=name, **attrs)

    def node(self, op: str, inputs, attrs=None, outputs: int = 1, suffix: str = "") -> list[str]:
        name = self.call.name + (f"/{suffix}" if suffix else "")
        return self.b.node(op, inputs, attrs, name=name, outputs=outputs)

    def begin(self, call: Call) -> None:
        self.call = call
        self.b.source = Source("keras", call.cls, call.path)


def unsupported(attribute: str, value: Any, hint: str = "") -> UnsupportedAttributeError:
    return UnsupportedAttributeError(attribute, value, hint)


def symbolic(shape: Sequence, name: str) -> tuple:
    """None dims become symbolic: the batch dim is "batch", the others "<name>_d<i>"."""
    out = []
    for i, d in enumerate(shape):
        out.append(("batch" if i == 0 else f"{name}_d{i}") if d is None else int(d))
    return tuple(out)


def _value(name: str, dtype: str, shape):
    from ...ir.graph import Value

    return Value(name, dtype, shape)


def tup(v, n: int | None = None) -> tuple:
    """A Keras int-or-tuple config value as a tuple of ints."""
    if isinstance(v, (list, tuple)):
        return tuple(int(x) for x in v)
    return (int(v),) * (n or 1)
