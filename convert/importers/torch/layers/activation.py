"""Activations."""
from __future__ import annotations

import numpy as np

from ....errors import UnsupportedAttributeError
from ..context import TorchContext
from ..registry import register

_SIMPLE = {
    "aten.relu.default": "Relu", "aten.sigmoid.default": "Sigmoid", "aten.tanh.default": "Tanh",
    "aten.hardswish.default": "HardSwish", "aten.mish.default": "Mish", "aten.abs.default": "Abs",
    "aten.exp.default": "Exp", "aten.log.default": "Log", "aten.sqrt.default": "Sqrt", "aten.neg.default": "Neg",
    "aten.reciprocal.default": "Reciprocal", "aten.erf.default": "Erf", "aten.floor.default": "Floor",
    "aten.ceil.default": "Ceil", "aten.sin.default": "Sin", "aten.cos.default": "Cos",
    "aten.selu.default": "Selu", "aten.silu.default": "Silu",
}


@register(*_SIMPLE, emits=_SIMPLE)
def import_unary(ctx: TorchContext, node) -> str:
    return ctx.op(_SIMPLE[str(node.target)], ctx.v(node.args[0]))


@register("aten.rsqrt.default", emits=("Reciprocal", "Sqrt"))
def import_rsqrt(ctx: TorchContext, node) -> str:
    return ctx.op("Reciprocal", ctx.op("Sqrt", ctx.v(node.args[0])))


@register("aten.leaky_relu.default", emits=("LeakyRelu",))
def import_leaky_relu(ctx: TorchContext, node) -> str:
    x, slope = ctx.args(node)
    return ctx.op("LeakyRelu", ctx.v(x), alpha=float(slope))


@register("aten.prelu.default", "aten._prelu_kernel.default", emits=("PRelu",))
def import_prelu(ctx: TorchContext, node) -> str:
    x, w = ctx.args(node)
    slope = ctx.array(w)
    rank = ctx.rank(x)
    if slope is None:
        raise UnsupportedAttributeError("weight", "computed", "PReLU slope must be a parameter")
    if slope.size > 1 and rank > 2:  # per channel: broadcast over the spatial axes
        slope = slope.reshape((-1,) + (1,) * (rank - 2))
    return ctx.op("PRelu", ctx.v(x), ctx.b.weight(ctx.layer_name + ".weight", slope))


@register("aten.elu.default", emits=("Elu",))
def import_elu(ctx: TorchContext, node) -> str:
    x, alpha, scale, input_scale = ctx.args(node)
    if float(scale) != 1.0 or float(input_scale) != 1.0:
        raise UnsupportedAttributeError("scale", (scale, input_scale), "only ELU with scale 1")
    return ctx.op("Elu", ctx.v(x), alpha=float(alpha))


@register("aten.celu.default", emits=("Celu",))
def import_celu(ctx: TorchContext, node) -> str:
    x, alpha = ctx.args(node)
    return ctx.op("Celu", ctx.v(x), alpha=float(alpha))


@register("aten.hardsigmoid.default", emits=("HardSigmoid",))
def import_hardsigmoid(ctx: TorchContext, node) -> str:
    return ctx.op("HardSigmoid", ctx.v(node.args[0]), alpha=1.0 / 6, beta=0.5)


@register("aten.gelu.default", emits=("Gelu",))
def import_gelu(ctx: TorchContext, node) -> str:
    x, approximate = ctx.args(node)
    return ctx.op("Gelu", ctx.v(x), approximate=str(approximate))


@register("aten.softplus.default", emits=("Div", "Mul", "Softplus"))
def import_softplus(ctx: TorchContext, node) -> str:
    """softplus_beta(x) = softplus(beta*x)/beta exactly; torch's threshold (x*beta > 20 ->
    x) changes the result by under exp(-20) relative, below fp32 resolution."""
    x, beta, threshold = ctx.args(node)
    beta = float(beta)
    if float(threshold) < 20:
        raise UnsupportedAttributeError("threshold", threshold, "thresholds below 20 change the result")
    if beta == 1.0:
        return ctx.op("Softplus", ctx.v(x))
    b = ctx.b.weight(ctx.layer_name + ".beta", np.float32(beta))
    return ctx.op("Div", ctx.op("Softplus", ctx.op("Mul", ctx.v(x), b)), b)


def _clip(ctx: TorchContext, x, lo, hi) -> str:
    return ctx.op("Clip", ctx.v(x), min=None if lo is None else float(lo), max=None if hi is None else float(hi))


@register("aten.relu6.default", emits=("Clip",))
def import_relu6(ctx: TorchContext, node) -> str:
    return _clip(ctx, node.args[0], 0.0, 6.0)


@register("aten.hardtanh.default", emits=("Clip",))
def import_hardtanh(ctx: TorchContext, node) -> str:
    x, lo, hi = ctx.args(node)
    return _clip(ctx, x, lo, hi)


@register("aten.clamp.default", "aten.clip.default", emits=("Clip",))
def import_clamp(ctx: TorchContext, node) -> str:
    x, lo, hi = ctx.args(node)
    return _clip(ctx, x, lo, hi)


@register("aten.clamp_min.default", emits=("Clip",))
def import_clamp_min(ctx: TorchContext, node) -> str:
    x, lo = ctx.args(node)
    return _clip(ctx, x, lo, None)


@register("aten.clamp_max.default", emits=("Clip",))
def import_clamp_max(ctx: TorchContext, node) -> str:
    x, hi = ctx.args(node)
    return _clip(ctx, x, None, hi)


def _axis_softmax(ctx: TorchContext, node, op: str) -> str:
    a = ctx.args(node)
    x, dim = a[0], a[1]
    if len(a) > 2 and a[2] not in (None, False) and "half_to_float" not in str(node.target._schema):
        raise UnsupportedAttributeError("dtype", a[2])
    return ctx.op(op, ctx.v(x), axis=int(dim))


@register("aten.softmax.int", "aten._softmax.default", emits=("Softmax",))
def import_softmax(ctx: TorchContext, node) -> str:
    return _axis_softmax(ctx, node, "Softmax")


@register("aten.log_softmax.int", "aten._log_softmax.default", emits=("LogSoftmax",))
def import_log_softmax(ctx: TorchContext, node) -> str:
    return _axis_softmax(ctx, node, "LogSoftmax")
