"""Element-wise ops and activations: mostly the IR op of the same name."""
from __future__ import annotations

from ....ir.optable import OPS
from ..registry import register
from .common import register_same, same

register_same(register, [
    "Relu", "Sigmoid", "Tanh", "Softplus", "Softsign", "HardSwish", "Abs", "Exp", "Log", "Sqrt", "Neg",
    "Reciprocal", "Erf", "Floor", "Ceil", "Sin", "Cos", "Not", "LeakyRelu", "Elu", "Selu", "Celu",
    "HardSigmoid", "Mish", "ThresholdedRelu", "Pow", "Gelu",
    "Add", "Sub", "Mul", "Div", "Greater", "Less", "Equal", "And", "Or", "Max", "Min", "Sum", "Mean", "Where",
    "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Sign", "Round", "IsNaN", "Xor",
    "Mod", "IsInf", "Shrink", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot", "BitShift",
])

register_same(register, ["PRelu"], since=7)


@register("PRelu", emits=("PRelu",))
def import_prelu_legacy(ctx, node):
    """Before opset 7 a 1-D slope as long as X's channel axis is per channel (axis 1), not
    broadcast from the last axis: stored as (C, 1, ..., 1), the IR's per-channel form."""
    slope, rank = ctx.maybe_const(1), ctx.rank(0)
    if slope is not None and slope.ndim == 1 and slope.size > 1 and rank is not None and rank > 2:
        w = ctx.b.weight(f"{node.name or node.output[0]}/slope", slope.reshape((-1,) + (1,) * (rank - 2)))
        return ctx.emit("PRelu", [ctx.x(0), w])
    return same(ctx, node)


@register("Softmax", "LogSoftmax", since=13, emits=("Softmax", "LogSoftmax", "ReduceMax", "Sub", "Exp",
                                                   "ReduceSum", "Div"))
def import_softmax(ctx, node):
    """A float16/bfloat16 Softmax is ONNX's function body, whose every step is a tensor of
    that dtype (the exponentials and their sum rounded, not only the result): kept as those
    ops, so every target rounds where ONNX does."""
    if node.op_type != "Softmax" or ctx.dtype(0) not in ("float16", "bfloat16"):
        return same(ctx, node)
    axes = {"axes": [int(ctx.attr("axis", OPS["Softmax"].attr_default("axis")))], "keepdims": 1}
    x = ctx.x(0)
    exp = ctx.tmp("Exp", [ctx.tmp("Sub", [x, ctx.tmp("ReduceMax", [x], **axes)])])
    ctx.emit("Div", [exp, ctx.tmp("ReduceSum", [exp], **axes)])


@register("Softmax", "LogSoftmax", emits=("Flatten", "Reshape"))
def import_softmax_2d(ctx, node):
    """Before opset 13 the op flattens to 2-D at ``axis`` (default 1) and normalises the
    whole trailing block: the newer op when that block is the last axis, else
    Flatten -> op -> Reshape back (a dynamic dimension only in front)."""
    from ..context import DataDependent

    shape = ctx.shape(0)
    axis = ctx.attr("axis", 1)
    if shape is not None and axis % len(shape) == len(shape) - 1:
        return same(ctx, node, axis=-1)
    if shape is None or any(not isinstance(d, int) for d in shape[1:]):
        raise DataDependent("axis", axis, "a pre-opset-13 softmax over a block with dynamic or unknown sizes")
    soft = ctx.tmp(node.op_type, [ctx.tmp("Flatten", [ctx.x(0)], axis=axis)], axis=1)
    ctx.emit("Reshape", [soft], {"shape": [d if isinstance(d, int) else 0 for d in shape]})


@register("Clip", since=11)
def import_clip(ctx, node):
    bounds = {}
    for i, key in ((1, "min"), (2, "max")):
        if ctx.has(i):
            bounds[key] = float(ctx.const(i, key).reshape(()))
    if not bounds:
        return ctx.alias(0, ctx.x(0))
    ctx.emit("Clip", [ctx.x(0)], bounds)


@register("Clip")
def import_clip_attrs(ctx, node):
    same(ctx, node)


@register("GreaterOrEqual", "LessOrEqual", emits=("Greater", "Less", "Not"))
def import_compare_or_equal(ctx, node):
    """a >= b is not (a < b) (and a <= b is not (a > b)) for every non-NaN value."""
    inner = "Less" if node.op_type == "GreaterOrEqual" else "Greater"
    ctx.emit("Not", [ctx.tmp(inner, [ctx.x(0), ctx.x(1)])])


@register("ArgMin", emits=("ArgMax", "Neg"))
def import_argmin(ctx, node):
    """argmin(x) = argmax(-x), ties resolved identically (first or last index)."""
    from .common import ir_attrs

    ctx.emit("ArgMax", [ctx.tmp("Neg", [ctx.x(0)])], ir_attrs(ctx, "ArgMax"))


@register("ArgMax")
def import_argmax(ctx, node):
    same(ctx, node)


@register("Swish", emits=("Silu",))
def import_swish(ctx, node):
    """ONNX Swish (opset 24) is x * sigmoid(alpha * x): the IR's Silu with beta = alpha."""
    ctx.emit("Silu", [ctx.x(0)], {"beta": float(ctx.attr("alpha", 1.0))})
