"""Reductions and TopK. Axes moved from attribute to input in opset 13 (ReduceSum) and
18 (the rest)."""
from __future__ import annotations

from ..registry import register
from .shape import ints

_REDUCE = ["ReduceMean", "ReduceMax", "ReduceMin", "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceProd",
           "ReduceLogSumExp"]


def _reduce(ctx, node, axes) -> None:
    if axes is not None and not axes and ctx.attr("noop_with_empty_axes", 0):
        ctx.alias(0, ctx.x(0))
        return
    ctx.emit(node.op_type, [ctx.x(0)], {"axes": axes or None, "keepdims": int(ctx.attr("keepdims", 1))})


@register(*_REDUCE, "ReduceSum")
def import_reduce_attr(ctx, node):
    axes = ctx.attr("axes")
    _reduce(ctx, node, ints(axes) if axes is not None else None)


def import_reduce(ctx, node):
    _reduce(ctx, node, ints(ctx.const(1, "axes")) if ctx.has(1) else ([] if ctx.attr("noop_with_empty_axes") else None))


register("ReduceSum", since=13)(import_reduce)
register(*_REDUCE, since=18)(import_reduce)


@register("ReduceLogSum", emits=("Log", "ReduceSum"))
def import_reduce_log_sum(ctx, node):
    axes = ctx.attr("axes")
    if ctx.opset >= 18:
        axes = ctx.const(1, "axes") if ctx.has(1) else None
    axes = ints(axes) if axes is not None else None
    s = ctx.tmp("ReduceSum", [ctx.x(0)], axes=axes or None, keepdims=int(ctx.attr("keepdims", 1)))
    ctx.emit("Log", [s])


@register("TopK")
def import_topk_attr(ctx, node):
    ctx.emit("TopK", [ctx.x(0)], {"k": int(ctx.attr("k")), "axis": int(ctx.attr("axis", -1))})


@register("TopK", since=10)
def import_topk(ctx, node):
    ctx.emit("TopK", [ctx.x(0)], {"k": int(ctx.const(1, "K").reshape(-1)[0]), "axis": int(ctx.attr("axis", -1)),
                                   "largest": int(ctx.attr("largest", 1)), "sorted": int(ctx.attr("sorted", 1))})


@register("LpNormalization", emits=("Div", "Equal", "ReduceL1", "ReduceL2", "Where"))
def import_lp_normalization(ctx, node):
    """x / ||x||_p along axis (p = 1 or 2), the norm kept as a size-1 axis to broadcast;
    where the norm is 0 the output is 0 (ONNX's rule, not 0/0)."""
    import numpy as np

    from ....errors import UnsupportedAttributeError

    p = int(ctx.attr("p", 2))
    if p not in (1, 2):
        raise UnsupportedAttributeError("p", p, "ONNX defines LpNormalization for p = 1 or 2")
    norm = ctx.tmp(f"ReduceL{p}", [ctx.x(0)], axes=[int(ctx.attr("axis", -1))], keepdims=1)
    zero = ctx.b.weight(f"{node.name or node.output[0]}/zero", np.zeros(()), dtype=ctx.dtype(0) or "float32")
    ctx.emit("Where", [ctx.tmp("Equal", [norm, zero]), zero, ctx.tmp("Div", [ctx.x(0), norm])])
