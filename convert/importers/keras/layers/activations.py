"""Built-in activation functions and the activation layers."""
from __future__ import annotations

import math

import numpy as np

from .. import layout as L
from ..context import Call, KerasContext, Ref, unsupported
from ..registry import register

# Keras' own SELU constants (keras.activations.selu).
SELU_ALPHA = 1.67326324
SELU_SCALE = 1.05070098


def _softmax(ctx, x, perm):
    return ctx.op("Softmax", x, suffix="softmax", axis=L.ir_axis(-1, perm))


def _log_softmax(ctx, x, perm):
    return ctx.op("LogSoftmax", x, suffix="log_softmax", axis=L.ir_axis(-1, perm))


def _log_sigmoid(ctx, x, perm):
    # log(sigmoid(x)) = -softplus(-x)
    return ctx.op("Neg", ctx.op("Softplus", ctx.op("Neg", x, suffix="neg"), suffix="softplus"), suffix="log_sigmoid")


def _unary(op: str, suffix: str, **attrs):
    def emit(ctx, x, perm):
        return ctx.op(op, x, suffix=suffix, **attrs)

    emit.emits = (op,)
    return emit


_softmax.emits, _log_softmax.emits, _log_sigmoid.emits = ("Softmax",), ("LogSoftmax",), ("Neg", "Softplus")
# name -> emitter(ctx, x, perm) with the IR ops it emits in ``.emits``; None is the identity
ACTIVATIONS = {
    "linear": None,
    "relu": _unary("Relu", "relu"),
    "relu6": _unary("Clip", "relu6", min=0.0, max=6.0),
    "leaky_relu": _unary("LeakyRelu", "leaky_relu", alpha=0.2),
    "elu": _unary("Elu", "elu", alpha=1.0),
    "selu": _unary("Selu", "selu", alpha=SELU_ALPHA, gamma=SELU_SCALE),
    "celu": _unary("Celu", "celu", alpha=1.0),
    "sigmoid": _unary("Sigmoid", "sigmoid"),
    # Keras 3: hard_sigmoid(x) = relu6(x + 3) / 6
    "hard_sigmoid": _unary("HardSigmoid", "hard_sigmoid", alpha=1.0 / 6.0, beta=0.5),
    "hard_silu": _unary("HardSwish", "hard_swish"),
    "hard_swish": _unary("HardSwish", "hard_swish"),
    "silu": _unary("Silu", "silu"),
    "gelu": _unary("Gelu", "gelu", approximate="none"),
    "tanh": _unary("Tanh", "tanh"),
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "softplus": _unary("Softplus", "softplus"),
    "softsign": _unary("Softsign", "softsign"),
    "exponential": _unary("Exp", "exp"),
    "mish": _unary("Mish", "mish"),
    "hard_tanh": _unary("Clip", "hard_tanh", min=-1.0, max=1.0),
    "log_sigmoid": _log_sigmoid,
}
# tf.keras 2 spelling
ACTIVATIONS["swish"] = ACTIVATIONS["silu"]
# every IR op an ``activation=`` argument can add to a layer
ACTIVATION_OPS = tuple(sorted({op for fn in ACTIVATIONS.values() if fn is not None for op in fn.emits}))


def activation_name(spec) -> str:
    """The built-in name of a serialized activation; custom functions raise."""
    if spec is None:
        return "linear"
    if isinstance(spec, str):
        return spec
    if isinstance(spec, dict):
        inner = spec.get("config")
        module = spec.get("module") or "keras.activations"
        if spec.get("class_name") == "function" and isinstance(inner, str) and module.startswith("keras"):
            return inner
        if isinstance(spec.get("class_name"), str) and spec.get("class_name") in ACTIVATIONS and not inner:
            return spec["class_name"]
    raise unsupported("activation", spec, "custom activation functions are never executed")


def apply(ctx: KerasContext, x: str, perm, spec) -> str:
    """Emit the activation ``spec`` (a config value) on IR value ``x`` in layout ``perm``."""
    name = activation_name(spec)
    if name not in ACTIVATIONS:
        raise unsupported("activation", name, f"supported: {', '.join(sorted(ACTIVATIONS))}")
    fn = ACTIVATIONS[name]
    return x if fn is None else fn(ctx, x, perm)


def check(spec) -> None:
    """Raise early for an unsupported activation (before any node is emitted)."""
    name = activation_name(spec)
    if name not in ACTIVATIONS:
        raise unsupported("activation", name, f"supported: {', '.join(sorted(ACTIVATIONS))}")


def _same_layout(ctx: KerasContext, call: Call, out: str, perm) -> list[Ref]:
    r = call.inputs[0]
    return [ctx.ref(out, r.shape, perm, r.dtype)]


@register("Activation", emits=("Identity", *ACTIVATION_OPS))
def import_activation(ctx: KerasContext, node: Call) -> list[Ref]:
    x, perm = ctx.any(node.inputs[0])
    check(node.get("activation"))
    out = apply(ctx, x, perm, node.get("activation"))
    if out == x:
        out = ctx.op("Identity", x)
    return _same_layout(ctx, node, out, perm)


@register("ReLU", emits=("Clip", "LeakyRelu", "Less", "Mul", "Relu", "Sub", "Where"))
def import_relu(ctx: KerasContext, node: Call) -> list[Ref]:
    """max_value if x >= max_value; x if threshold <= x; negative_slope * (x - threshold) otherwise."""
    x, perm = ctx.any(node.inputs[0])
    mx = node.get("max_value")
    ns = float(node.get("negative_slope", 0.0) or 0.0)
    th = float(node.get("threshold", 0.0) or 0.0)
    if th == 0.0 and ns == 0.0:
        y = ctx.op("Relu", x) if mx is None else ctx.op("Clip", x, min=0.0, max=float(mx))
    elif th == 0.0 and mx is None:
        y = ctx.op("LeakyRelu", x, alpha=ns)
    else:
        t = ctx.const("threshold", np.float32(th))
        below = ctx.op("Less", x, t, suffix="below")
        neg = ctx.op("Mul", ctx.op("Sub", x, t, suffix="shift"), ctx.const("negative_slope", np.float32(ns)),
                     suffix="slope")
        y = ctx.node("Where", [below, neg, x], suffix="" if mx is None else "where")[0]
        if mx is not None:
            y = ctx.op("Clip", y, max=float(mx))
    return _same_layout(ctx, node, y, perm)


@register("LeakyReLU", emits=("LeakyRelu",))
def import_leaky_relu(ctx: KerasContext, node: Call) -> list[Ref]:
    x, perm = ctx.any(node.inputs[0])
    alpha = node.get("negative_slope", node.get("alpha", 0.3))
    return _same_layout(ctx, node, ctx.op("LeakyRelu", x, alpha=float(alpha)), perm)


@register("ELU", emits=("Elu",))
def import_elu(ctx: KerasContext, node: Call) -> list[Ref]:
    x, perm = ctx.any(node.inputs[0])
    return _same_layout(ctx, node, ctx.op("Elu", x, alpha=float(node.get("alpha", 1.0))), perm)


@register("ThresholdedReLU", emits=("ThresholdedRelu",))
def import_thresholded_relu(ctx: KerasContext, node: Call) -> list[Ref]:
    x, perm = ctx.any(node.inputs[0])
    return _same_layout(ctx, node, ctx.op("ThresholdedRelu", x, alpha=float(node.get("theta", 1.0))), perm)


@register("Softmax", emits=("Softmax",))
def import_softmax(ctx: KerasContext, node: Call) -> list[Ref]:
    axis = node.get("axis", -1)
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            raise unsupported("axis", axis, "softmax over one axis only")
        axis = axis[0]
    x, perm = ctx.any(node.inputs[0])
    return _same_layout(ctx, node, ctx.op("Softmax", x, axis=L.ir_axis(int(axis), perm)), perm)


@register("PReLU", emits=("PRelu",))
def import_prelu(ctx: KerasContext, node: Call) -> list[Ref]:
    r = node.inputs[0]
    x, perm = ctx.any(r)
    alpha_shape = list(r.shape[1:])
    for a in node.get("shared_axes") or []:
        alpha_shape[int(a) - 1] = 1
    (alpha,) = node.take(alpha_shape)
    # The slope broadcasts against X without its batch axis, in X's IR layout.
    slope = np.transpose(alpha, [p - 1 for p in perm[1:]])
    return _same_layout(ctx, node, ctx.op("PRelu", x, ctx.const("alpha", slope)), perm)


__all__ = ["apply", "check", "ACTIVATIONS", "ACTIVATION_OPS", "math"]
