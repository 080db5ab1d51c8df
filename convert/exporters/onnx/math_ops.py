"""Activations, reductions and normalisations that need a rewrite for some opsets."""
from __future__ import annotations

import math

import numpy as np

from ...errors import UnsupportedAttributeError
from .context import OnnxContext
from .registry import register
from ...ir.optable import attr_value

_AXES_AS_INPUT_SINCE = {"ReduceSum": 13}


@register("ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceSumSquare", "ReduceL1", "ReduceL2",
          "ReduceProd", "ReduceLogSumExp")
def export_reduce(ctx: OnnxContext, node):
    axes = node.attrs.get("axes")
    keep = attr_value(node, "keepdims")
    reduce_op(ctx, node.op, node.inputs[0], axes, keep, node.outputs, node.name)


def reduce_op(ctx: OnnxContext, op: str, x: str, axes, keepdims: int, outputs, name: str) -> list[str]:
    if axes is not None and ctx.opset >= _AXES_AS_INPUT_SINCE.get(op, 18):
        return ctx.emit(op, [x, ctx.const(list(axes), hint="axes")], outputs, name=name, keepdims=keepdims)
    return ctx.emit(op, [x], outputs, name=name, keepdims=keepdims, axes=None if axes is None else list(axes))


@register("TopK")
def export_topk(ctx: OnnxContext, node):
    a = node.attrs
    ctx.emit("TopK", [node.inputs[0], ctx.const([a["k"]], hint="k")], node.outputs, name=node.name,
             axis=attr_value(node, "axis"), largest=attr_value(node, "largest"), sorted=attr_value(node, "sorted"))


@register("Clip")
def export_clip(ctx: OnnxContext, node):
    lo, hi = node.attrs.get("min"), node.attrs.get("max")
    ins = [node.inputs[0], "" if lo is None else ctx.fconst(lo, node.inputs[0], "min"),
           "" if hi is None else ctx.fconst(hi, node.inputs[0], "max")]
    while ins and ins[-1] == "":
        ins.pop()
    ctx.emit("Clip", ins, node.outputs, name=node.name)


@register("Silu")
def export_silu(ctx: OnnxContext, node):
    x = node.inputs[0]
    beta = attr_value(node, "beta")
    z = x if beta == 1.0 else ctx.emit("Mul", [x, ctx.fconst(beta, node.inputs[0], "beta")], name=node.name + "/beta")[0]
    s = ctx.emit("Sigmoid", [z], name=node.name + "/sigmoid")[0]
    ctx.emit("Mul", [x, s], node.outputs, name=node.name)


@register("Gelu")
def export_gelu_decomposed(ctx: OnnxContext, node):
    x = node.inputs[0]
    n = node.name
    half = ctx.fconst(0.5, node.inputs[0], "half")
    one = ctx.fconst(1.0, node.inputs[0], "one")
    if attr_value(node, "approximate") == "tanh":
        x3 = ctx.emit("Mul", [x, ctx.emit("Mul", [x, x], name=n + "/x2")[0]], name=n + "/x3")[0]
        inner = ctx.emit("Add", [x, ctx.emit("Mul", [x3, ctx.fconst(0.044715, node.inputs[0], "gelu_c")], name=n + "/cx3")[0]],
                         name=n + "/inner")[0]
        t = ctx.emit("Tanh", [ctx.emit("Mul", [inner, ctx.fconst(math.sqrt(2 / math.pi), node.inputs[0], "sqrt_2_pi")],
                                       name=n + "/scaled")[0]], name=n + "/tanh")[0]
    else:
        t = ctx.emit("Erf", [ctx.emit("Div", [x, ctx.fconst(math.sqrt(2.0), node.inputs[0], "sqrt2")], name=n + "/div")[0]],
                     name=n + "/erf")[0]
    s = ctx.emit("Add", [t, one], name=n + "/add1")[0]
    hx = ctx.emit("Mul", [x, half], name=n + "/halfx")[0]
    ctx.emit("Mul", [hx, s], node.outputs, name=n)


@register("Gelu", since=20)
def export_gelu(ctx: OnnxContext, node):
    ctx.emit("Gelu", node.inputs, node.outputs, name=node.name, approximate=attr_value(node, "approximate"))


@register("HardSwish")
def export_hardswish_decomposed(ctx: OnnxContext, node):
    hs = ctx.emit("HardSigmoid", node.inputs, name=node.name + "/hsig", alpha=1.0 / 6, beta=0.5)[0]
    ctx.emit("Mul", [node.inputs[0], hs], node.outputs, name=node.name)


@register("Mish")
def export_mish_decomposed(ctx: OnnxContext, node):
    sp = ctx.emit("Softplus", node.inputs, name=node.name + "/softplus")[0]
    t = ctx.emit("Tanh", [sp], name=node.name + "/tanh")[0]
    ctx.emit("Mul", [node.inputs[0], t], node.outputs, name=node.name)


@register("LayerNormalization")
def export_layernorm_decomposed(ctx: OnnxContext, node):
    x, scale = node.inputs[0], node.inputs[1]
    bias = node.inputs[2] if len(node.inputs) > 2 else ""
    axis = attr_value(node, "axis")
    info = ctx.graph.value_info(x)
    rank = len(info.shape) if info is not None and info.shape is not None else None
    if axis < 0:
        if rank is None:
            axes = [axis]  # only valid for axis == -1 (the common case)
            if axis != -1:
                raise UnsupportedAttributeError("axis", axis, "needs a known rank below opset 17")
        else:
            axes = list(range(rank + axis, rank))
    else:
        axes = list(range(axis, rank)) if rank is not None else [axis]
    n = node.name
    mean = reduce_op(ctx, "ReduceMean", x, axes, 1, 1, n + "/mean")[0]
    d = ctx.emit("Sub", [x, mean], name=n + "/center")[0]
    var = reduce_op(ctx, "ReduceMean", ctx.emit("Mul", [d, d], name=n + "/sq")[0], axes, 1, 1, n + "/var")[0]
    eps = ctx.fconst(attr_value(node, "epsilon"), node.inputs[0], "eps")
    std = ctx.emit("Sqrt", [ctx.emit("Add", [var, eps], name=n + "/var_eps")[0]], name=n + "/std")[0]
    y = ctx.emit("Mul", [ctx.emit("Div", [d, std], name=n + "/norm")[0], scale], 1 if bias else node.outputs,
                 name=n + "/scale")[0]
    if bias:
        ctx.emit("Add", [y, bias], node.outputs, name=n)


@register("LayerNormalization", since=17)
def export_layernorm(ctx: OnnxContext, node):
    ctx.emit("LayerNormalization", node.inputs, node.outputs[:1], name=node.name,
             axis=attr_value(node, "axis"), epsilon=float(attr_value(node, "epsilon")))


@register("RMSNormalization")
def export_rmsnorm_decomposed(ctx: OnnxContext, node):
    x, scale = node.inputs[0], node.inputs[1]
    axis = node.attrs.get("axis", -1)
    info = ctx.graph.value_info(x)
    rank = len(info.shape) if info is not None and info.shape is not None else None
    if rank is None and axis >= 0:
        raise UnsupportedAttributeError("axis", axis, "needs a known rank below opset 23")
    axes = list(range(axis, 0)) if axis < 0 else list(range(axis, rank))
    n = node.name
    ms = reduce_op(ctx, "ReduceMean", ctx.emit("Mul", [x, x], name=n + "/sq")[0], axes, 1, 1, n + "/mean_sq")[0]
    eps = ctx.fconst(node.attrs.get("epsilon", 1e-5), node.inputs[0], "eps")
    rms = ctx.emit("Sqrt", [ctx.emit("Add", [ms, eps], name=n + "/ms_eps")[0]], name=n + "/rms")[0]
    ctx.emit("Mul", [ctx.emit("Div", [x, rms], name=n + "/norm")[0], scale], node.outputs, name=n)


@register("RMSNormalization", since=23)
def export_rmsnorm(ctx: OnnxContext, node):
    ctx.emit("RMSNormalization", node.inputs, node.outputs[:1], name=node.name,
             axis=node.attrs.get("axis", -1), epsilon=float(node.attrs.get("epsilon", 1e-5)))


@register("HardSwish", since=14)
@register("Mish", since=18)
@register("BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot", since=18)
def export_native(ctx: OnnxContext, node):
    """ONNX's own op of the same name, from the opset that introduced it (decomposed below)."""
    ctx.emit(node.op, node.inputs, node.outputs, name=node.name)


@register("BitShift", since=11)
def export_bitshift(ctx: OnnxContext, node):
    # signed types and out-of-range shift amounts are defined from opset 28 on
    ctx.emit("BitShift", node.inputs, node.outputs, name=node.name, direction=node.attrs["direction"])


@register("GroupNormalization")
def export_groupnorm_decomposed(ctx: OnnxContext, node):
    """Before opset 21 ONNX's GroupNormalization scales per group, the IR per channel: view
    x as (N, groups, rest), normalise each row with InstanceNormalization, then scale and
    shift per channel on an (N, C, rest) view, and take x's shape back (any rank)."""
    x, scale, bias = node.inputs
    n, g = node.name, int(node.attrs["num_groups"])
    c = int(np.asarray(ctx.weight(scale)).size) if ctx.weight(scale) is not None else -1
    if c < 0 and ctx.graph.value_info(x) is not None and ctx.graph.value_info(x).shape:
        c = ctx.graph.value_info(x).shape[1]
    if not isinstance(c, int) or c < 0:
        raise UnsupportedAttributeError("channels", None, "needs a known channel count below opset 21")
    rows = ctx.emit("Reshape", [x, ctx.const([0, g, -1], hint="groups_shape")], name=n + "/groups")[0]
    ones, zeros = ctx.fconst(np.ones(g), node.inputs[0], "ones"), ctx.fconst(np.zeros(g), node.inputs[0], "zeros")
    y = ctx.emit("InstanceNormalization", [rows, ones, zeros], name=n + "/norm",
                 epsilon=float(attr_value(node, "epsilon")))[0]
    y = ctx.emit("Reshape", [y, ctx.const([0, c, -1], hint="channel_rows")], name=n + "/channels")[0]
    col = ctx.const([-1, 1], hint="column")
    y = ctx.emit("Mul", [y, ctx.emit("Reshape", [scale, col], name=n + "/scale_col")[0]], name=n + "/scale")[0]
    y = ctx.emit("Add", [y, ctx.emit("Reshape", [bias, col], name=n + "/bias_col")[0]], name=n + "/shift")[0]
    ctx.emit("Reshape", [y, ctx.emit("Shape", [x], name=n + "/shape_of_x")[0]], node.outputs, name=n)


@register("GroupNormalization", since=21)
def export_groupnorm(ctx: OnnxContext, node):
    ctx.emit("GroupNormalization", node.inputs, node.outputs[:1], name=node.name,
             num_groups=int(node.attrs["num_groups"]), epsilon=float(attr_value(node, "epsilon")))


@register("MeanVarianceNormalization")
def export_mvn(ctx: OnnxContext, node):
    axes = list(attr_value(node, "axes"))
    x, n = node.inputs[0], node.name
    mean = reduce_op(ctx, "ReduceMean", x, axes, 1, 1, n + "/mean")[0]
    if not attr_value(node, "normalize_variance"):
        ctx.emit("Sub", [x, mean], node.outputs, name=n)
        return
    d = ctx.emit("Sub", [x, mean], name=n + "/center")[0]
    var = reduce_op(ctx, "ReduceMean", ctx.emit("Mul", [d, d], name=n + "/sq")[0], axes, 1, 1, n + "/var")[0]
    eps = ctx.fconst(attr_value(node, "epsilon"), node.inputs[0], "eps")
    if attr_value(node, "eps_after_sqrt"):
        den = ctx.emit("Add", [ctx.emit("Sqrt", [var], name=n + "/std")[0], eps], name=n + "/den")[0]
    else:
        den = ctx.emit("Sqrt", [ctx.emit("Add", [var, eps], name=n + "/var_eps")[0]], name=n + "/den")[0]
    ctx.emit("Div", [d, den], node.outputs, name=n)


@register("LpNormalization")
def export_lpnorm(ctx: OnnxContext, node):
    axes, p, eps = list(attr_value(node, "axes")), attr_value(node, "p"), attr_value(node, "epsilon")
    x, n = node.inputs[0], node.name
    if p != 2 and p != 1:
        raise UnsupportedAttributeError("p", p, "ONNX LpNormalization takes p = 1 or 2")
    if attr_value(node, "eps_inside") and p == 2:
        ss = reduce_op(ctx, "ReduceSumSquare", x, axes, 1, 1, n + "/sumsq")[0]
        den = ctx.emit("Sqrt", [ctx.emit("Add", [ss, ctx.fconst(eps, node.inputs[0], "eps")], name=n + "/add_eps")[0]],
                       name=n + "/norm")[0]
    else:
        norm = reduce_op(ctx, "ReduceL2" if p == 2 else "ReduceL1", x, axes, 1, 1, n + "/norm")[0]
        den = ctx.emit("Max", [norm, ctx.fconst(eps, node.inputs[0], "eps")], name=n + "/clamp")[0]
    ctx.emit("Div", [x, den], node.outputs, name=n)


@register("CaffeArgMax")
def export_caffe_argmax(ctx: OnnxContext, node):
    a = node.attrs
    x, n = node.inputs[0], node.name
    k, axis, out_max = attr_value(node, "top_k"), a.get("axis"), attr_value(node, "out_max_val")
    if axis is None:  # per sample over the flattened rest; output (N, 1 or 2, k)
        flat = ctx.emit("Flatten", [x], name=n + "/flatten", axis=1)[0]
        vals, idx = ctx.emit("TopK", [flat, ctx.const([k], hint="k")], 2, name=n + "/topk", axis=1)
        fidx = ctx.emit("Cast", [idx], name=n + "/cast", to=1)[0]
        if out_max:
            parts = [ctx.emit("Unsqueeze", [t, ctx.const([1], hint="axes")], name=n + f"/unsq{i}")[0]
                     for i, t in enumerate((fidx, vals))]
            ctx.emit("Concat", parts, node.outputs, name=n, axis=1)
        else:
            ctx.emit("Unsqueeze", [fidx, ctx.const([1], hint="axes")], node.outputs, name=n)
        return
    vals, idx = ctx.emit("TopK", [x, ctx.const([k], hint="k")], 2, name=n + "/topk", axis=axis)
    if out_max:
        ctx.emit("Identity", [vals], node.outputs, name=n)
    else:
        ctx.emit("Cast", [idx], node.outputs, name=n, to=1)


# ONNX pooling gained dilations (and LpPool ceil_mode) after opset 13.
_POOL_DILATIONS_SINCE = {"AveragePool": 19, "LpPool": 18}


@register("AveragePool", "LpPool")
def export_pool_dilated(ctx: OnnxContext, node):
    from ...errors import UnsupportedAttributeError

    since = _POOL_DILATIONS_SINCE[node.op]
    dilated = any(d != 1 for d in (attr_value(node, "dilations") or []))
    if ctx.opset < since and (dilated or (node.op == "LpPool" and attr_value(node, "ceil_mode"))):
        raise UnsupportedAttributeError("dilations", attr_value(node, "dilations"), f"{node.op} with dilations or "
                                        f"ceil_mode needs opset >= {since} (pass --opset {since})")
    ctx.emit(node.op, node.inputs, node.outputs, name=node.name, **node.attrs)
