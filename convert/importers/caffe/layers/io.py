"""Input, Split, Dropout, Silence."""
from __future__ import annotations

from ....errors import UnsupportedAttributeError
from ....ir.graph import Value
from ..registry import register


@register("Input", emits=())  # graph inputs
def import_input(ctx, node):
    shapes = [tuple(s.dim) for s in node.input_param.shape]
    tops = list(node.top)
    if len(shapes) == 1:
        shapes = shapes * len(tops)
    if len(shapes) != len(tops):
        raise UnsupportedAttributeError("input_param.shape", len(shapes), f"needs 1 or {len(tops)} shapes")
    for i, (top, shape) in enumerate(zip(tops, shapes)):
        name = ctx.b.claim(top)
        ctx.b.graph.inputs.append(Value(name, "float32", shape))
        ctx.s.values[top], ctx.s.shapes[top] = name, shape


@register("Split", emits=("Identity",))
def import_split(ctx, node):
    """Every top is a copy of the bottom."""
    for i in range(len(node.top)):
        ctx.top(i, "Identity", [ctx.x(0)], ctx.shape(0))


@register("Dropout", emits=("Dropout",))
def import_dropout(ctx, node):
    """The identity at inference (Caffe scales during training)."""
    ctx.top(0, "Dropout", [ctx.x(0)], ctx.shape(0), ratio=float(node.dropout_param.dropout_ratio))


@register("Silence", emits=())
def import_silence(ctx, node):
    """Consumes its bottoms and produces nothing."""
