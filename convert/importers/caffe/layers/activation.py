"""Element-wise layers and Softmax."""
from __future__ import annotations

import math

import numpy as np

from ..registry import register


def _same(ctx, op: str, **attrs) -> None:
    ctx.top(0, op, [ctx.x(0)], ctx.shape(0), **attrs)


@register("ReLU", emits=("LeakyRelu", "Relu"))
def import_relu(ctx, node):
    slope = node.relu_param.negative_slope
    if slope:
        _same(ctx, "LeakyRelu", alpha=float(slope))  # max(x,0) + slope*min(x,0)
    else:
        _same(ctx, "Relu")


@register("PReLU", emits=("PRelu",))
def import_prelu(ctx, node):
    shp = ctx.shape(0)
    if node.prelu_param.channel_shared:
        slope = ctx.param(0, ()).reshape(1)  # a 0-axis blob: one value
    else:
        c = shp[1] if len(shp) > 1 else 1
        slope = ctx.param(0, (c,)).reshape((c,) + (1,) * max(len(shp) - 2, 0))
    ctx.top(0, "PRelu", [ctx.x(0), ctx.weight("slope", slope)], shp)


@register("ELU", emits=("Elu",))
def import_elu(ctx, node):
    _same(ctx, "Elu", alpha=float(node.elu_param.alpha))


@register("Sigmoid", emits=("Sigmoid",))
def import_sigmoid(ctx, node):
    _same(ctx, "Sigmoid")


@register("TanH", emits=("Tanh",))
def import_tanh(ctx, node):
    _same(ctx, "Tanh")


@register("AbsVal", emits=("Abs",))
def import_absval(ctx, node):
    _same(ctx, "Abs")


@register("BNLL", emits=("Softplus",))
def import_bnll(ctx, node):
    _same(ctx, "Softplus")  # log(1 + exp(x))


def _affine(ctx, x: str, scale: float, shift: float) -> str:
    """scale*x + shift, skipping the identity parts."""
    if scale != 1.0:
        x = ctx.op("Mul", x, ctx.const("scale", np.float32(scale)), hint="scale")
    if shift != 0.0:
        x = ctx.op("Add", x, ctx.const("shift", np.float32(shift)), hint="shift")
    return x


@register("Power", emits=("Add", "Identity", "Mul", "Pow"))
def import_power(ctx, node):
    """y = (shift + scale*x) ^ power."""
    p = node.power_param
    shp = ctx.shape(0)
    if p.power == 1.0:
        if p.scale == 1.0 and p.shift == 0.0:
            ctx.top(0, "Identity", [ctx.x(0)], shp)
        elif p.shift == 0.0:
            ctx.top(0, "Mul", [ctx.x(0), ctx.const("scale", np.float32(p.scale))], shp)
        else:
            base = _affine(ctx, ctx.x(0), p.scale, 0.0)
            ctx.top(0, "Add", [base, ctx.const("shift", np.float32(p.shift))], shp)
        return
    base = _affine(ctx, ctx.x(0), p.scale, p.shift)
    ctx.top(0, "Pow", [base, ctx.const("power", np.float32(p.power))], shp)


@register("Exp", emits=("Add", "Exp", "Mul"))
def import_exp(ctx, node):
    """y = base ^ (shift + scale*x); base -1 means e."""
    p = node.exp_param
    ln_base = 1.0 if p.base == -1 else math.log(p.base)
    x = _affine(ctx, ctx.x(0), p.scale * ln_base, p.shift * ln_base)
    ctx.top(0, "Exp", [x], ctx.shape(0))


@register("Log", emits=("Add", "Log", "Mul"))
def import_log(ctx, node):
    """y = log_base(shift + scale*x); base -1 means e."""
    p = node.log_param
    x = _affine(ctx, ctx.x(0), p.scale, p.shift)
    if p.base == -1:
        ctx.top(0, "Log", [x], ctx.shape(0))
    else:
        y = ctx.op("Log", x)
        ctx.top(0, "Mul", [y, ctx.const("inv_ln_base", np.float32(1.0 / math.log(p.base)))], ctx.shape(0))


@register("Threshold", emits=("Cast", "Greater"))
def import_threshold(ctx, node):
    """y = 1 if x > threshold else 0."""
    gt = ctx.op("Greater", ctx.x(0), ctx.const("threshold", np.float32(node.threshold_param.threshold)))
    ctx.top(0, "Cast", [gt], ctx.shape(0), to="float32")


@register("Clip", emits=("Clip",))
def import_clip(ctx, node):
    p = node.clip_param
    _same(ctx, "Clip", min=float(p.min), max=float(p.max))


@register("Swish", emits=("Silu",))
def import_swish(ctx, node):
    _same(ctx, "Silu", beta=float(node.swish_param.beta))


@register("ReLU6", emits=("Clip", "LeakyRelu"))
def import_relu6(ctx, node):
    """Fork layer: min(max(x,0) + slope*min(x,0), threshold)."""
    p = node.relu6_param
    if p.negative_slope:
        y = ctx.op("LeakyRelu", ctx.x(0), alpha=float(p.negative_slope))
        ctx.top(0, "Clip", [y], ctx.shape(0), max=float(p.threshold))
    else:
        _same(ctx, "Clip", min=0.0, max=float(p.threshold))


@register("HardSwish", emits=("HardSwish",))
def import_hardswish(ctx, node):
    _same(ctx, "HardSwish")  # x * min(max(x/6 + 1/2, 0), 1)


@register("HardSigmoid", emits=("HardSigmoid",))
def import_hardsigmoid(ctx, node):
    p = node.hardsigmoid_param
    _same(ctx, "HardSigmoid", alpha=float(p.alpha), beta=float(p.beta))


@register("Softmax", emits=("Softmax",))
def import_softmax(ctx, node):
    shp = ctx.shape(0)
    _same(ctx, "Softmax", axis=ctx.axis(node.softmax_param.axis, len(shp)))
