"""Input, Split, Dropout, Silence."""
from __future__ import annotations

from ....errors import UnsupportedAttributeError
from ....ir.graph import Value
from ..registry import register


@register("Input", emits=())  # graph inputs
def import_input(layer, ctx):
    shapes = [tuple(s.dim) for s in layer.input_param.shape]
    tops = list(layer.top)
    if len(shapes) == 1:
        shapes = shapes * len(tops)
    if len(shapes) != len(tops):
        raise UnsupportedAttributeError("input_param.shape", len(shapes), f"needs 1 or {len(tops)} shapes")
    for i, (top, shape) in enumerate(zip(tops, shapes)):
        name = ctx.b.claim(top)
        ctx.b.graph.inputs.append(Value(name, "float32", shape))
        ctx.s.values[top], ctx.s.shapes[top] = name, shape


@register("Split", emits=("Identity",))
def import_split(layer, ctx):
    """Every top is a copy of the bottom."""
    for i in range(len(layer.top)):
        ctx.top(i, "Identity", [ctx.x(0)], ctx.shape(0))


@register("Dropout", emits=("Dropout",))
def import_dropout(layer, ctx):
    """The identity at inference (Caffe scales during training)."""
    ctx.top(0, "Dropout", [ctx.x(0)], ctx.shape(0), ratio=float(layer.dropout_param.dropout_ratio))


@register("Silence", emits=())
def import_silence(layer, ctx):
    """Consumes its bottoms and produces nothing."""
