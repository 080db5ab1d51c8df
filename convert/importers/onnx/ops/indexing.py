"""Indexing, scatter and scan ops."""
from __future__ import annotations

import numpy as np

from ....errors import UnsupportedAttributeError
from ....ir.graph import DTYPES
from ....ir.optable import OPS
from ....limits import MAX_DIM
from ..registry import register
from .common import register_same, same
from .shape import ints

register_same(register, ["GatherElements", "GatherND", "ScatterElements", "ScatterND", "Einsum"])


@register("Scatter", emits=("ScatterElements",))
def import_scatter(ctx, node):
    """The deprecated Scatter is ScatterElements without reduction."""
    same(ctx, node, op="ScatterElements")


@register("Hardmax", since=13)
def import_hardmax(ctx, node):
    same(ctx, node)


@register("Trilu")
def import_trilu(ctx, node):
    k = int(ints(ctx.const(1, "k"))[0]) if ctx.has(1) else 0
    ctx.emit("Trilu", [ctx.x(0)], {"upper": int(ctx.attr("upper", 1)), "k": k})


@register("CumSum", "CumProd")
def import_cumsum(ctx, node):
    ctx.emit(node.op_type, [ctx.x(0)], {"axis": int(ints(ctx.const(1, "axis"))[0]),
                                     "exclusive": int(ctx.attr("exclusive", 0)),
                                     "reverse": int(ctx.attr("reverse", 0))})


@register("TensorScatter", emits=("TensorScatter",))
def import_tensor_scatter(ctx, node):
    """A KV-cache update; the write positions are per batch entry, so axis 0 (the batch,
    for which ONNX's own reference has no meaning) is refused."""
    axis = int(ctx.attr("axis", OPS["TensorScatter"].attr_default("axis")))
    rank = ctx.rank(0)
    if rank is not None and axis % rank == 0:
        raise UnsupportedAttributeError("axis", axis, "a sequence axis after the batch axis 0")
    same(ctx, node)


_INTEGER = ("int64", "int32", "int16", "int8", "uint8")


@register("OneHot", since=9, emits=("OneHot", "Cast", "Less", "Where"))
def import_onehot(ctx, node):
    """depth and values must be constants (they fix the output's shape and type); indices
    that are not integers are truncated to int64, as onnxruntime reads them. Before opset 11
    the spec puts every index outside [0, depth) off (onnxruntime counts negative ones from
    the end at every opset; the spec is followed here)."""
    depth = np.asarray(ctx.const(1, "depth")).reshape(-1)
    values = np.asarray(ctx.const(2, "values")).reshape(-1)
    if depth.size != 1 or not np.isfinite(depth[0]) or depth[0] != int(depth[0]) or not 1 <= int(depth[0]) <= MAX_DIM:
        raise UnsupportedAttributeError("depth", depth.tolist(), f"one integer in 1..{MAX_DIM}")
    if values.size != 2:
        raise UnsupportedAttributeError("values", values.tolist(), "two values: [off_value, on_value]")
    dtype = str(values.dtype)
    if dtype not in DTYPES:
        raise UnsupportedAttributeError("values", str(values.dtype), "a numeric or bool element type")
    stored = [float(v) for v in values]
    if values.dtype.kind in "iu" and any(v != w for v, w in zip(stored, values.tolist())):
        raise UnsupportedAttributeError("values", values.tolist(), "integers within +-2**53")
    x = ctx.x(0)
    signed = ctx.opset < 11 and ctx.dtype(0) != "uint8"
    if ctx.dtype(0) not in _INTEGER or signed and ctx.dtype(0) != "int64":
        x = ctx.tmp("Cast", [x], to="int64")
    if signed:  # opset 9 and 10 read negative indices as out of range: a row of off_value
        zero = ctx.b.weight("zero", np.zeros((), np.int64))
        x = ctx.tmp("Where", [ctx.tmp("Less", [x, zero]), ctx.b.weight("depth", depth.astype(np.int64)[0]), x])
    ctx.emit("OneHot", [x], {"depth": int(depth[0]), "values": stored, "dtype": dtype,
                             "axis": int(ctx.attr("axis", -1))})
