"""Activations and element-wise ops as built-in Keras layers (layout-agnostic)."""
from __future__ import annotations

import math

import numpy as np

from .. import channels_last as L
from .context import KerasContext, attr, unsupported_attr
from .fusion import ACTIVATION_NAMES, SELU_DEFAULTS
from .registry import register

_MERGE = {"Add": "Add", "Sum": "Add", "Sub": "Subtract", "Mul": "Multiply", "Max": "Maximum", "Min": "Minimum",
          "Mean": "Average"}


def _unary(node, ctx: KerasContext, layer) -> None:
    t, have = ctx.raw(node.inputs[0])
    ctx.put(node.outputs[0], layer(t), have)


@register(*ACTIVATION_NAMES)
def export_activation(ctx: KerasContext, node):
    _unary(node, ctx, ctx.layers.Activation(ACTIVATION_NAMES[node.op], name=ctx.name(node)))


@register("Identity")
def export_identity(ctx: KerasContext, node):
    ctx.put(node.outputs[0], *ctx.raw(node.inputs[0]))


@register("Dropout")
def export_dropout(ctx: KerasContext, node):
    _unary(node, ctx, ctx.layers.Dropout(float(attr(node, "ratio")), name=ctx.name(node)))


@register("LeakyRelu")
def export_leaky_relu(ctx: KerasContext, node):
    _unary(node, ctx, ctx.layers.LeakyReLU(negative_slope=float(attr(node, "alpha")), name=ctx.name(node)))


@register("Elu")
def export_elu(ctx: KerasContext, node):
    _unary(node, ctx, ctx.layers.ELU(alpha=float(attr(node, "alpha")), name=ctx.name(node)))


@register("Selu")
def export_selu(ctx: KerasContext, node):
    if (float(attr(node, "alpha")), float(attr(node, "gamma"))) != SELU_DEFAULTS:
        raise unsupported_attr("alpha/gamma", [attr(node, "alpha"), attr(node, "gamma")], "Keras selu is fixed")
    _unary(node, ctx, ctx.layers.Activation("selu", name=ctx.name(node)))


@register("Gelu")
def export_gelu(ctx: KerasContext, node):
    if attr(node, "approximate") == "tanh":  # the Activation layer is the exact form only
        t, have = ctx.raw(node.inputs[0])
        ctx.put(node.outputs[0], ctx.keras.ops.gelu(t, approximate=True), have)
        return
    _unary(node, ctx, ctx.layers.Activation("gelu", name=ctx.name(node)))


@register("Silu")
def export_silu(ctx: KerasContext, node):
    if float(attr(node, "beta")) != 1.0:
        raise unsupported_attr("beta", attr(node, "beta"))
    _unary(node, ctx, ctx.layers.Activation("silu", name=ctx.name(node)))


@register("HardSigmoid")
def export_hard_sigmoid(ctx: KerasContext, node):
    if not math.isclose(float(attr(node, "alpha")), 1 / 6, rel_tol=1e-7) or float(attr(node, "beta")) != 0.5:
        raise unsupported_attr("alpha/beta", [attr(node, "alpha"), attr(node, "beta")], "Keras: relu6(x+3)/6")
    _unary(node, ctx, ctx.layers.Activation("hard_sigmoid", name=ctx.name(node)))


@register("Clip")
def export_clip(ctx: KerasContext, node):
    """ReLU(max_value) where it is one (relu, relu6: the layer Keras users know); any other
    bounds as ``keras.ops.minimum(keras.ops.maximum(x, min), max)``, ONNX's own definition,
    which also gives max everywhere when min > max."""
    lo, hi = attr(node, "min"), attr(node, "max")
    if lo == 0.0 and (hi is None or hi >= 0.0):
        _unary(node, ctx, ctx.layers.ReLU(max_value=None if hi is None else float(hi), name=ctx.name(node)))
        return
    t, have = ctx.raw(node.inputs[0])
    if lo is not None:
        t = ctx.keras.ops.maximum(t, float(lo))
    if hi is not None:
        t = ctx.keras.ops.minimum(t, float(hi))
    ctx.put(node.outputs[0], t, have)


@register("PRelu")
def export_prelu(ctx: KerasContext, node):
    slope = ctx.weight(node.inputs[1])
    t, have = ctx.raw(node.inputs[0])
    rank = len(have)
    if slope is None or (slope.size != 1 and (slope.ndim != rank - 1 or slope.shape[0] != slope.size)):
        raise unsupported_attr("slope", None if slope is None else list(slope.shape), "a scalar or per-channel slope")
    # Keras alpha has the input's shape without the batch axis; shared axes broadcast the rest.
    shared = [i for i in range(1, rank) if slope.size == 1 or have[i] != 1]
    alpha_shape = [1 if i in shared else int(slope.size) for i in range(1, rank)]
    layer = ctx.layers.PReLU(shared_axes=shared or None, name=ctx.name(node))
    ctx.put(node.outputs[0], ctx.call(layer, t, [slope.reshape(-1).reshape(alpha_shape)]), have)


@register("Softmax", "LogSoftmax")
def export_softmax(ctx: KerasContext, node):
    t, have = ctx.raw(node.inputs[0])
    axis = L.keras_axis(have, attr(node, "axis"))
    if node.op == "Softmax":
        _unary(node, ctx, ctx.layers.Softmax(axis=axis, name=ctx.name(node)))
    elif axis == len(have) - 1:
        _unary(node, ctx, ctx.layers.Activation("log_softmax", name=ctx.name(node)))
    else:
        raise unsupported_attr("axis", attr(node, "axis"), "Keras log_softmax works on the last axis")


def _scalar(ctx: KerasContext, node) -> tuple[str, float] | None:
    """(tensor input, scalar) when one operand is a constant scalar."""
    for i, other in ((0, 1), (1, 0)):
        w = ctx.weight(node.inputs[other])
        if w is not None and w.size == 1 and node.inputs[i] not in ctx.graph.weights:
            return node.inputs[i], float(w.reshape(-1)[0]), other
    return None


@register("Add", "Sub", "Mul", "Div", "Sum", "Max", "Min", "Mean")
def export_elementwise(ctx: KerasContext, node):
    sc = _scalar(ctx, node) if len(node.inputs) == 2 else None
    if sc is not None:  # x (op) scalar: Rescaling computes x*scale + offset, exact for these forms
        x, c, pos = sc
        forms = {"Add": (1.0, c), "Mul": (c, 0.0), "Sub": (1.0, -c) if pos == 1 else (-1.0, c)}
        if node.op == "Div" and pos == 1 and c != 0 and np.frexp(c)[0] in (0.5, -0.5):
            forms["Div"] = (1.0 / c, 0.0)  # a power of two: the reciprocal is exact
        if node.op not in forms:
            raise unsupported_attr("operand", node.inputs[pos], f"{node.op} by a constant")
        t, have = ctx.raw(x)
        scale, offset = forms[node.op]
        ctx.put(node.outputs[0], ctx.layers.Rescaling(scale, offset, name=ctx.name(node))(t), have)
        return
    shapes = {ctx.ir_shape(i) for i in node.inputs if i not in ctx.graph.weights}
    if node.op not in _MERGE or any(i in ctx.graph.weights for i in node.inputs) or len({len(s) for s in shapes}) > 1:
        _binary_op(node, ctx)
        return
    have = ctx.perm(node.inputs[0])
    xs = [ctx.get(i, have) for i in node.inputs]
    layer = ctx.layers.__dict__[_MERGE[node.op]](name=ctx.name(node))
    ctx.put(node.outputs[0], layer(xs), have)


_OPS = {"Add": "add", "Sub": "subtract", "Mul": "multiply", "Div": "divide"}


def _binary_op(node, ctx: KerasContext) -> None:
    """A binary op with a constant tensor or broadcasting operand: keras.ops in IR order."""
    from .tensor_ops import operand

    if node.op not in _OPS or len(node.inputs) != 2:
        raise unsupported_attr("operands", list(node.inputs), f"{node.op} needs tensor operands in Keras")
    a, b = (operand(ctx, i) for i in node.inputs)
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        raise unsupported_attr("operands", list(node.inputs), "at least one computed tensor")
    y = getattr(ctx.keras.ops, _OPS[node.op])(a, b)
    ctx.put(node.outputs[0], y, L.identity(len(y.shape)))
