"""Indexing, scatter and scan ops."""
from __future__ import annotations

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
