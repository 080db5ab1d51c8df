"""Indexing, scatter and scan ops."""
from __future__ import annotations

from ....errors import UnsupportedAttributeError
from ....ir.optable import OPS
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
