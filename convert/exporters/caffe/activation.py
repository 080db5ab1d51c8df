"""Element-wise activations and Softmax."""
from __future__ import annotations

import math

import numpy as np

from .context import attr, bad
from .registry import register


def _unary(ctx, node, type_: str):
    return ctx.add(type_, [ctx.activation(node.inputs[0])], [node.outputs[0]])


for _op, _type in [("Relu", "ReLU"), ("Sigmoid", "Sigmoid"), ("Tanh", "TanH"), ("Abs", "AbsVal"),
                   ("Softplus", "BNLL"), ("Exp", "Exp"), ("Log", "Log")]:
    def _make(type_: str):
        def export_unary(ctx, node):
            _unary(ctx, node, type_)
        export_unary.__name__ = f"export_{type_.lower()}"
        return export_unary

    register(_op)(_make(_type))


@register("LeakyRelu")
def export_leakyrelu(ctx, node):
    _unary(ctx, node, "ReLU").relu_param.negative_slope = float(attr(node, "alpha"))


@register("Elu")
def export_elu(ctx, node):
    alpha = float(attr(node, "alpha"))
    lp = _unary(ctx, node, "ELU")
    if alpha != 1.0:
        lp.elu_param.alpha = alpha


@register("Selu")
def export_selu(ctx, node):
    """gamma * ELU(alpha)."""
    t = ctx.tmp("elu")
    ctx.add("ELU", [ctx.activation(node.inputs[0])], [t]).elu_param.alpha = float(attr(node, "alpha"))
    ctx.power(t, node.outputs[0], scale=float(attr(node, "gamma")), suffix="gamma")


@register("PRelu")
def export_prelu(ctx, node):
    x = ctx.activation(node.inputs[0])
    slope = ctx.const(node.inputs[1])
    shp = ctx.shape(x)
    if slope is None:
        raise bad("slope", node.inputs[1], "PReLU slopes must be constants")
    if slope.size == 1:
        lp = ctx.add("PReLU", [x], [node.outputs[0]], blobs=[slope.reshape(1)])
        lp.prelu_param.channel_shared = True
        return
    c = shp[1] if len(shp) > 1 else 0
    # per channel: the slope's non-1 axis must be axis 1 of the input
    aligned = (1,) * (len(shp) - slope.ndim) + slope.shape
    if len(shp) < 2 or aligned[1] != c or any(d != 1 for k, d in enumerate(aligned) if k != 1):
        raise bad("slope", slope.shape, f"Caffe PReLU slopes are per channel (axis 1 of {shp}) or shared")
    ctx.add("PReLU", [x], [node.outputs[0]], blobs=[slope.reshape(c)])


@register("Clip")
def export_clip(ctx, node):
    lo, hi = attr(node, "min"), attr(node, "max")
    x = ctx.activation(node.inputs[0])
    if lo is None and hi is None:
        ctx.add("Split", [x], [node.outputs[0]])
        return
    if lo == 0.0 and hi is None:
        ctx.add("ReLU", [x], [node.outputs[0]])
        return
    p = ctx.add("Clip", [x], [node.outputs[0]]).clip_param  # upstream BVLC, clip_param = 148
    # Caffe computes max(min, min(x, max)), which is min where min > max; ONNX gives max there
    p.min = -math.inf if lo is None else float(lo if hi is None else min(lo, hi))
    p.max = math.inf if hi is None else float(hi)


@register("Silu")
def export_silu(ctx, node):
    beta = float(attr(node, "beta"))
    lp = _unary(ctx, node, "Swish")  # upstream BVLC, swish_param = 147
    if beta != 1.0:
        lp.swish_param.beta = beta


@register("HardSigmoid")
def export_hardsigmoid(ctx, node):
    """clip(alpha*x + beta, 0, 1) as Power + Clip."""
    t = ctx.tmp("affine")
    ctx.power(ctx.activation(node.inputs[0]), t, scale=float(attr(node, "alpha")), shift=float(attr(node, "beta")),
              suffix="affine")
    p = ctx.add("Clip", [t], [node.outputs[0]]).clip_param
    p.min, p.max = 0.0, 1.0


@register("HardSwish")
def export_hardswish(ctx, node):
    """x * clip(x/6 + 1/2, 0, 1) as Power + Clip + Eltwise PROD."""
    x = ctx.activation(node.inputs[0])
    t, g = ctx.tmp("affine"), ctx.tmp("gate")
    ctx.power(x, t, scale=1.0 / 6.0, shift=0.5, suffix="affine")
    p = ctx.add("Clip", [t], [g], suffix="clip").clip_param
    p.min, p.max = 0.0, 1.0
    ctx.add("Eltwise", [x, g], [node.outputs[0]]).eltwise_param.operation = 0  # PROD


@register("Mish")
def export_mish(ctx, node):
    """x * tanh(log(1 + e^x)) as BNLL + TanH + Eltwise PROD."""
    x = ctx.activation(node.inputs[0])
    s, t = ctx.tmp("softplus"), ctx.tmp("tanh")
    ctx.add("BNLL", [x], [s], suffix="softplus")
    ctx.add("TanH", [s], [t], suffix="tanh")
    ctx.add("Eltwise", [x, t], [node.outputs[0]]).eltwise_param.operation = 0


@register("Neg")
def export_neg(ctx, node):
    ctx.power(ctx.activation(node.inputs[0]), node.outputs[0], scale=-1.0)


@register("Reciprocal")
def export_reciprocal(ctx, node):
    ctx.power(ctx.activation(node.inputs[0]), node.outputs[0], power=-1.0)


@register("Sqrt")
def export_sqrt(ctx, node):
    ctx.power(ctx.activation(node.inputs[0]), node.outputs[0], power=0.5)


@register("Pow")
def export_pow(ctx, node):
    e = ctx.const(node.inputs[1])
    if e is None or e.size != 1:
        raise bad("Y", node.inputs[1], "Caffe Power raises to one constant exponent")
    ctx.power(ctx.activation(node.inputs[0]), node.outputs[0], power=float(e.reshape(-1)[0]))


@register("Softmax")
def export_softmax(ctx, node):
    x = ctx.activation(node.inputs[0])
    axis = int(attr(node, "axis")) % len(ctx.shape(x))
    lp = ctx.add("Softmax", [x], [node.outputs[0]])
    if axis != 1:
        lp.softmax_param.axis = axis


@register("Identity")
def export_identity(ctx, node):
    ctx.add("Split", [ctx.activation(node.inputs[0])], [node.outputs[0]])


@register("Dropout")
def export_dropout(ctx, node):
    """Identity at inference; kept as a Dropout layer so the source layer stays visible."""
    lp = ctx.add("Dropout", [ctx.activation(node.inputs[0])], [node.outputs[0]])
    ratio = float(attr(node, "ratio"))
    if ratio != 0.5:
        lp.dropout_param.dropout_ratio = ratio
    if len(node.outputs) > 1 and node.outputs[1]:
        raise bad("mask", node.outputs[1], "Caffe's Dropout has no mask output")
