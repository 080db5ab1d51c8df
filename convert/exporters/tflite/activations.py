"""Activations as LiteRT builtin operators; each keeps its input's layout."""
from __future__ import annotations

import numpy as np

from .context import TFLiteContext, attr, unsupported_attr
from .fusion import RELU, RELU6, RELU_N1_TO_1, clip_bounds, fused_code
from .registry import register

# IR op -> builtin operator computing exactly it, no options
SIMPLE = {"Relu": "RELU", "Sigmoid": "LOGISTIC", "Tanh": "TANH", "HardSwish": "HARD_SWISH", "Abs": "ABS",
          "Exp": "EXP", "Log": "LOG", "Sqrt": "SQRT", "Neg": "NEG", "Floor": "FLOOR", "Ceil": "CEIL",
          "Sin": "SIN", "Cos": "COS"}

def unary(node, ctx: TFLiteContext, code: str, options: str | None = None, **fields) -> None:
    x = node.inputs[0]
    perm = ctx.perm(x)
    xi = ctx.get(x, perm)
    ctx.op(code, [xi], [ctx.out(node.outputs[0], perm)], options, **fields)


def _simple(code: str):
    def export_simple(ctx: TFLiteContext, node) -> None:
        unary(node, ctx, code)

    return export_simple


for _op, _code in SIMPLE.items():
    register(_op)(_simple(_code))


@register("Identity", "Dropout")
def export_identity(ctx: TFLiteContext, node) -> None:
    x = node.inputs[0]
    ctx.put(node.outputs[0], ctx.get(x, ctx.perm(x)), ctx.perm(x))


@register("LeakyRelu")
def export_leaky_relu(ctx: TFLiteContext, node) -> None:
    unary(node, ctx, "LEAKY_RELU", "LeakyReluOptions", alpha=float(attr(node, "alpha")))


@register("Elu")
def export_elu(ctx: TFLiteContext, node) -> None:
    if float(attr(node, "alpha")) != 1.0:
        raise unsupported_attr("alpha", attr(node, "alpha"), "LiteRT's ELU has alpha 1")
    unary(node, ctx, "ELU")


@register("Gelu")
def export_gelu(ctx: TFLiteContext, node) -> None:
    unary(node, ctx, "GELU", "GeluOptions", approximate=attr(node, "approximate") == "tanh")


@register("Clip")
def export_clip(ctx: TFLiteContext, node) -> None:
    code = fused_code(node)
    if code is not None:
        unary(node, ctx, {RELU: "RELU", RELU6: "RELU6", RELU_N1_TO_1: "RELU_N1_TO_1"}[code])
        return
    lo, hi = clip_bounds(node)
    x = node.inputs[0]
    perm = ctx.perm(x)
    cur = ctx.get(x, perm)
    for code, bound in (("MAXIMUM", lo), ("MINIMUM", hi)):
        if bound is None:
            continue
        last = code == "MINIMUM" or hi is None
        nxt = ctx.out(node.outputs[0], perm) if last else ctx.like(cur, f"{node.outputs[0]}/lo")
        ctx.op(code, [cur, ctx.const(np.array(bound, np.float32), f"{node.name}/{code.lower()}")], [nxt])
        cur = nxt


@register("Softmax")
def export_softmax(ctx: TFLiteContext, node) -> None:
    x = node.inputs[0]
    rank = len(ctx.ir_shape(x))
    axis = attr(node, "axis") % rank
    perm = ctx.perm(x)
    if perm[-1] != axis:  # LiteRT's SOFTMAX normalises the last stored axis
        perm = tuple(p for p in range(rank) if p != axis) + (axis,)
    xi = ctx.get(x, perm)
    ctx.op("SOFTMAX", [xi], [ctx.out(node.outputs[0], perm)], "SoftmaxOptions", beta=1.0)


@register("Silu")
def export_silu(ctx: TFLiteContext, node) -> None:
    if float(attr(node, "beta")) != 1.0:
        raise unsupported_attr("beta", attr(node, "beta"), "only x * sigmoid(x)")
    x = node.inputs[0]
    perm = ctx.perm(x)
    xi = ctx.get(x, perm)
    sig = ctx.like(xi, f"{node.outputs[0]}/sigmoid")
    ctx.op("LOGISTIC", [xi], [sig])
    ctx.op("MUL", [xi, sig], [ctx.out(node.outputs[0], perm)], "MulOptions")


@register("PRelu")
def export_prelu(ctx: TFLiteContext, node) -> None:
    x, slope = node.inputs
    w = ctx.weight(slope)
    if w is None:
        raise unsupported_attr("slope", slope, "LiteRT's PRELU needs a constant slope")
    rank = len(ctx.ir_shape(x))
    perm = ctx.perm(x)
    full = np.reshape(w, (1,) * (rank - w.ndim) + w.shape).astype(np.float32)
    alpha = np.transpose(full, perm)[0]  # broadcast over the batch
    ctx.op("PRELU", [ctx.get(x, perm), ctx.const(alpha, slope)], [ctx.out(node.outputs[0], perm)])


@register("HardSigmoid")
def export_hard_sigmoid(ctx: TFLiteContext, node) -> None:
    """clip(alpha * x + beta, 0, 1) = RELU6(6 alpha x + 6 beta) / 6, three builtins."""
    alpha, beta = float(attr(node, "alpha")), float(attr(node, "beta"))
    x = node.inputs[0]
    perm = ctx.perm(x)
    xi = ctx.get(x, perm)
    scaled, shifted = ctx.like(xi, f"{node.outputs[0]}/scaled"), ctx.like(xi, f"{node.outputs[0]}/relu6")
    ctx.op("MUL", [xi, ctx.const(np.array(6 * alpha, np.float32), f"{node.name}/alpha")], [scaled], "MulOptions")
    ctx.op("ADD", [scaled, ctx.const(np.array(6 * beta, np.float32), f"{node.name}/beta")], [shifted], "AddOptions",
           fusedActivationFunction=RELU6)
    ctx.op("MUL", [shifted, ctx.const(np.array(1 / 6, np.float32), f"{node.name}/sixth")],
           [ctx.out(node.outputs[0], perm)], "MulOptions")
