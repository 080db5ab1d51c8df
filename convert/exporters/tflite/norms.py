"""Layer, group and RMS normalisation lowered exactly to LiteRT builtins (MEAN, SUB, MUL,
ADD, RSQRT, RESHAPE) over the stored positions of the normalised axes, in whatever layout
the input is stored: no TRANSPOSE."""
from __future__ import annotations

import numpy as np

from .context import TFLiteContext, attr, unsupported_attr
from .math_ops import operand
from .registry import register


def normalize(ctx: TFLiteContext, xi: int, axes: list[int], epsilon: float, name: str, center: bool = True) -> int:
    """(x - mean) / sqrt(var + eps) over the stored ``axes`` of tensor ``xi`` (biased
    variance), or with ``center=False`` x / sqrt(mean(x^2) + eps) (RMS)."""
    dims = ctx.dims(xi)
    reduced = [1 if i in axes else d for i, d in enumerate(dims)]
    axes_t = ctx.ints(sorted(axes), f"{name}/axes")

    def mean(v: int, tag: str) -> int:
        return ctx.step("MEAN", [v, axes_t], reduced, f"{name}/{tag}", "ReducerOptions", keepDims=True)

    d = ctx.step("SUB", [xi, mean(xi, "mean")], dims, f"{name}/centered") if center else xi
    var = mean(ctx.step("MUL", [d, d], dims, f"{name}/squared"), "var")
    eps = ctx.const(np.array(epsilon, np.float32), f"{name}/epsilon")
    rstd = ctx.step("RSQRT", [ctx.step("ADD", [var, eps], reduced, f"{name}/var_eps")], reduced, f"{name}/rstd")
    return ctx.step("MUL", [d, rstd], dims, f"{name}/normed")


def _affine(ctx: TFLiteContext, normed: int, scale: int, bias: int | None, out: int) -> None:
    """out = normed * scale (+ bias)."""
    if bias is None:
        ctx.op("MUL", [normed, scale], [out])
        return
    ctx.op("ADD", [ctx.step("MUL", [normed, scale], ctx.dims(normed), f"{ctx.tensors[out].name}/scaled"), bias],
           [out])


def _optional(node, i: int) -> str:
    return node.inputs[i] if len(node.inputs) > i and node.inputs[i] else ""


@register("LayerNormalization")
def export_layernorm(ctx: TFLiteContext, node) -> None:
    """Normalised over the axes from ``axis`` on, then Scale and B."""
    x, scale, b = node.inputs[0], node.inputs[1], _optional(node, 2)
    if ctx.weight(scale) is None or (b and ctx.weight(b) is None):
        raise unsupported_attr("Scale/B", node.name, "layer norm needs a constant scale and bias")
    rank = len(ctx.ir_shape(x))
    perm = ctx.perm(x)
    first = int(attr(node, "axis")) % rank
    normed = normalize(ctx, ctx.get(x, perm), [perm.index(a) for a in range(first, rank)],
                       float(attr(node, "epsilon")), node.outputs[0])
    _affine(ctx, normed, operand(ctx, scale, perm, rank), operand(ctx, b, perm, rank) if b else None,
            ctx.out(node.outputs[0], perm))


@register("RMSNormalization")
def export_rmsnorm(ctx: TFLiteContext, node) -> None:
    """x * rsqrt(mean(x^2 over the axes from ``axis`` on) + eps) * scale."""
    x, scale = node.inputs[0], node.inputs[1]
    rank = len(ctx.ir_shape(x))
    perm = ctx.perm(x)
    first = int(attr(node, "axis")) % rank
    normed = normalize(ctx, ctx.get(x, perm), [perm.index(a) for a in range(first, rank)],
                       float(attr(node, "epsilon")), node.outputs[0], center=False)
    _affine(ctx, normed, operand(ctx, scale, perm, rank), None, ctx.out(node.outputs[0], perm))


@register("GroupNormalization")
def export_groupnorm(ctx: TFLiteContext, node) -> None:
    """The stored channel axis C is split into (groups, C / groups) by a RESHAPE (groups
    hold consecutive channels, so no element moves), each (sample, group) is normalised
    over every other axis but the batch, and a RESHAPE restores the shape before the
    per-channel scale and shift."""
    x, scale, b = node.inputs[0], node.inputs[1], _optional(node, 2)
    ws = [ctx.weight(v) for v in (scale, b)]
    if any(w is None for w in ws):
        raise unsupported_attr("scale/B", node.name, "group norm needs a constant scale and bias")
    perm = ctx.perm(x)
    xi = ctx.get(x, perm)
    dims = ctx.dims(xi)
    ci, bi = perm.index(1), perm.index(0)
    groups, c = int(attr(node, "num_groups")), dims[ci]
    if c < 0 or c % groups:
        raise unsupported_attr("num_groups", groups, f"a divisor of the {c} channels")
    split = dims[:ci] + [groups, c // groups] + dims[ci + 1:]
    if split.count(-1) > 1:
        raise unsupported_attr("shape", dims, "LiteRT's RESHAPE infers one dynamic dimension")
    name = node.outputs[0]
    grouped = ctx.step("RESHAPE", [xi, ctx.ints(split, f"{name}/groups")], split, f"{name}/grouped")
    batch = bi if bi < ci else bi + 1
    normed = normalize(ctx, grouped, [i for i in range(len(split)) if i not in (batch, ci)],
                       float(attr(node, "epsilon")), name)
    flat = ctx.step("RESHAPE", [normed, ctx.ints(dims, f"{name}/shape")], dims, f"{name}/ungrouped")
    shape = [1] * len(dims)
    shape[ci] = c
    scale_t, bias_t = (ctx.const(np.broadcast_to(w, (c,)).astype(np.float32).reshape(shape), f"{node.name}/{tag}")
                       for w, tag in zip(ws, ("scale", "B")))
    _affine(ctx, flat, scale_t, bias_t, ctx.out(name, perm))
