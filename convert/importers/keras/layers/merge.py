"""Merge layers. All inputs are taken in one common layout (the first input's)."""
from __future__ import annotations

import numpy as np

from .. import layout as L
from ..context import Call, KerasContext, Ref, unsupported
from ..registry import register


def _common(ctx: KerasContext, call: Call) -> tuple[list[str], tuple]:
    ranks = {r.rank for r in call.inputs}
    if len(ranks) != 1:
        raise unsupported("inputs", [r.shape for r in call.inputs], "inputs of equal rank")
    # The layout most inputs already have (graph inputs not yet declared take any).
    counts: dict = {}
    for r in call.inputs:
        for p in r.values:
            counts[p] = counts.get(p, 0) + 1
    perm = max(counts, key=counts.get) if counts else ctx.any(call.inputs[0])[1]
    return [ctx.get(r, perm) for r in call.inputs], perm


def _shape(call: Call) -> tuple:
    shapes = [r.shape for r in call.inputs]
    return tuple(next((d for d in dims if d not in (None, 1)), dims[0]) for dims in zip(*shapes))


def _chain(ctx: KerasContext, call: Call, op: str) -> list[Ref]:
    xs, perm = _common(ctx, call)
    y = xs[0]
    for i, x in enumerate(xs[1:], 1):
        y = ctx.op(op, y, x, suffix="" if i == len(xs) - 1 else f"{op.lower()}{i}")
    return [ctx.ref(y, _shape(call), perm)]


def _nary(ctx: KerasContext, call: Call, op: str) -> list[Ref]:
    xs, perm = _common(ctx, call)
    return [ctx.ref(ctx.node(op, xs)[0], _shape(call), perm)]


@register("Add", emits=("Add", "Sum"))
def import_add(ctx: KerasContext, node: Call) -> list[Ref]:
    return _chain(ctx, node, "Add") if len(node.inputs) == 2 else _nary(ctx, node, "Sum")


@register("Subtract", emits=("Sub",))
def import_subtract(ctx: KerasContext, node: Call) -> list[Ref]:
    if len(node.inputs) != 2:
        raise unsupported("inputs", len(node.inputs), "Subtract takes exactly 2 inputs")
    return _chain(ctx, node, "Sub")


@register("Multiply", emits=("Mul",))
def import_multiply(ctx: KerasContext, node: Call) -> list[Ref]:
    return _chain(ctx, node, "Mul")


@register("Average", emits=("Mean",))
def import_average(ctx: KerasContext, node: Call) -> list[Ref]:
    return _nary(ctx, node, "Mean")


@register("Maximum", emits=("Max",))
def import_maximum(ctx: KerasContext, node: Call) -> list[Ref]:
    return _nary(ctx, node, "Max")


@register("Minimum", emits=("Min",))
def import_minimum(ctx: KerasContext, node: Call) -> list[Ref]:
    return _nary(ctx, node, "Min")


@register("Concatenate", emits=("Concat",))
def import_concatenate(ctx: KerasContext, node: Call) -> list[Ref]:
    xs, perm = _common(ctx, node)
    rank = node.inputs[0].rank
    axis = int(node.get("axis", -1)) % rank
    y = ctx.node("Concat", xs, {"axis": L.ir_axis(axis, perm)})[0]
    shape = list(node.inputs[0].shape)
    sizes = [r.shape[axis] for r in node.inputs]
    shape[axis] = None if any(s is None for s in sizes) else sum(sizes)
    return [ctx.ref(y, tuple(shape), perm)]


# keras.applications' InceptionResNetV2 scales each residual branch with this layer:
# ``inputs[0] + inputs[1] * scale`` (model.APPLICATION_CLASSES keeps a user's class of the
# same name away from this handler).
@register("CustomScaleLayer", emits=('Mul', 'Add'))
def import_custom_scale_layer(ctx: KerasContext, node: Call) -> list[Ref]:
    if len(node.inputs) != 2:
        raise unsupported("inputs", len(node.inputs), "CustomScaleLayer takes [residual, branch]")
    scale = node.get("scale")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        raise unsupported("scale", scale, "a number")
    node.take()  # it has no weights
    (x, branch), perm = _common(ctx, node)
    scaled = ctx.op("Mul", branch, ctx.const("scale", np.asarray(scale, dtype=np.float32)), suffix="scaled")
    return [ctx.ref(ctx.op("Add", x, scaled), _shape(node), perm)]
