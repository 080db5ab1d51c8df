"""Activation, LeakyReLU, the softmax family, clip, Dropout."""
from __future__ import annotations

import numpy as np

from ....errors import UnsupportedAttributeError
from ..context import NodeContext
from ..registry import register

@register("Activation", emits=("Relu", "Sigmoid", "Softplus", "Softsign", "Tanh"))
def import_activation(ctx: NodeContext, node):
    ops = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softrelu": "Softplus", "softsign": "Softsign"}
    ctx.same(ops[ctx.choice("act_type", "relu", tuple(ops))])


@register("LeakyReLU", emits=("Elu", "Gelu", "LeakyRelu", "PRelu", "Selu"))
def import_leaky_relu(ctx: NodeContext, node):
    act = ctx.choice("act_type", "leaky", ("leaky", "prelu", "elu", "selu", "gelu", "rrelu"))
    slope = ctx.float("slope", 0.25)
    if act == "leaky":
        ctx.same("LeakyRelu", alpha=slope)
    elif act == "rrelu":  # inference uses the mean of the random slope range
        ctx.same("LeakyRelu", alpha=(ctx.float("lower_bound", 0.125) + ctx.float("upper_bound", 0.334)) / 2)
    elif act == "elu":
        ctx.same("Elu", alpha=slope)
    elif act == "selu":
        ctx.same("Selu")
    elif act == "gelu":
        ctx.same("Gelu")
    else:
        shp = ctx.shape(0)
        gamma = ctx.param(1)
        if gamma.size == 1:
            slope_w = gamma.reshape(())
        elif gamma.ndim == 1 and len(shp) >= 2 and gamma.shape[0] == shp[1]:
            slope_w = gamma.reshape((gamma.shape[0],) + (1,) * (len(shp) - 2))  # per channel (axis 1)
        else:
            raise UnsupportedAttributeError("gamma", tuple(gamma.shape), f"one slope or one per channel of {shp}")
        ctx.out("PRelu", [ctx.x(0), ctx.weight("gamma", slope_w)], shp)


def _softmax_axis(ctx: NodeContext, axis: int) -> None:
    t = ctx.float("temperature", None)
    x, shp = ctx.x(0), ctx.shape(0)
    if t not in (None, 1.0):
        x = ctx.op("Div", x, ctx.weight("temperature", np.float32(t)), dims=shp, hint="temperature")
    ctx.out("Softmax", [x], shp, axis=axis)


@register("softmax", emits=("Div", "Softmax"))
def import_softmax(ctx: NodeContext, node):
    if ctx.bool("use_length", False):
        raise UnsupportedAttributeError("use_length", True, "masked softmax")
    _softmax_axis(ctx, ctx.int("axis", -1))


@register("log_softmax", emits=("LogSoftmax",))
def import_log_softmax(ctx: NodeContext, node):
    ctx.same("LogSoftmax", axis=ctx.int("axis", -1))


@register("SoftmaxActivation", emits=("Flatten", "Reshape", "Softmax"))
def import_softmax_activation(ctx: NodeContext, node):
    mode = ctx.choice("mode", "instance", ("instance", "channel"))
    shp = ctx.shape(0)
    if mode == "channel" or len(shp) == 2:
        ctx.same("Softmax", axis=1)
        return
    _softmax_flat(ctx)


def _softmax_flat(ctx: NodeContext) -> None:
    """Softmax over all axes but the batch (the input is flattened, the shape kept)."""
    shp = ctx.shape(0)
    flat = ctx.op("Flatten", ctx.x(0), dims=(shp[0], int(np.prod(shp[1:]))), axis=1)
    y = ctx.op("Softmax", flat, dims=(shp[0], int(np.prod(shp[1:]))), axis=1)
    ctx.out("Reshape", [y], shp, shape=[0, *shp[1:]])


@register("SoftmaxOutput", "Softmax", emits=("Flatten", "Reshape", "Softmax"))
def import_softmax_output(ctx: NodeContext, node):
    # Inference forward of the loss output: the softmax alone (the label is not read)
    shp = ctx.shape(0)
    if ctx.bool("multi_output", False):
        ctx.same("Softmax", axis=1)
    elif ctx.bool("preserve_shape", False) or len(shp) == 2:
        ctx.same("Softmax", axis=-1)
    else:
        _softmax_flat(ctx)


@register("clip", emits=("Clip",))
def import_clip(ctx: NodeContext, node):
    ctx.same("Clip", min=ctx.float("a_min"), max=ctx.float("a_max"))


@register("Dropout", emits=("Dropout",))
def import_dropout(ctx: NodeContext, node):
    if ctx.str("mode", "training") == "always":
        raise UnsupportedAttributeError("mode", "always", "dropout that stays active at inference is random")
    ctx.same("Dropout", ratio=ctx.float("p", 0.5))
