"""2-D convolution and pooling as LiteRT builtins, channels-last (NHWC activations;
CONV_2D filters OHWI, DEPTHWISE_CONV_2D filters 1HW(C*multiplier)).

LiteRT knows only 'SAME' and 'VALID' padding: pads equal to TensorFlow's 'SAME' for the
static input size become SAME, any other pads an explicit PAD (PADV2 with the lowest
float for max pooling) before a VALID op."""
from __future__ import annotations

import numpy as np

from ...ir.windows import pool_out_size, same_pads
from .context import TFLiteContext, attr, channels_last, unsupported_attr
from .registry import register

NHWC = channels_last(4)
OIHW_TO_OHWI = (0, 2, 3, 1)
_SAME, _VALID = 0, 1
_LOWEST = float(np.finfo(np.float32).min)


def _geometry(node, nd: int = 2):
    strides = [int(s) for s in (attr(node, "strides") or [1] * nd)]
    dil = [int(d) for d in (attr(node, "dilations") or [1] * nd)]
    pads = [int(p) for p in (attr(node, "pads") or [0] * (2 * nd))]
    return strides, dil, pads[:nd], pads[nd:]


def _padding(ctx: TFLiteContext, node, x: int, spatial, kernel, strides, dil, begin, end, fill: float = 0.0,
             same_ok: bool = True) -> tuple[int, int]:
    """(padding mode, input tensor): SAME when the pads are TF's own, else explicit pads."""
    if not any(begin) and not any(end):
        return _VALID, x
    static = all(isinstance(n, int) for n in spatial)
    if same_ok and static and all(same_pads(n, k, s, d) == (b, e)
                                  for n, k, s, d, b, e in zip(spatial, kernel, strides, dil, begin, end)):
        return _SAME, x
    if not static:
        raise unsupported_attr("pads", begin + end, "padding that is not TF 'SAME' needs static spatial sizes")
    t = ctx.tensors[x]
    dims = list(t.shapeSignature if t.shapeSignature is not None else t.shape)
    for i, (b, e) in enumerate(zip(begin, end)):
        dims[1 + i] += b + e
    padded = ctx.tensor(f"{node.name}/pad", dims)
    pads = ctx.ints([[0, 0]] + [[b, e] for b, e in zip(begin, end)] + [[0, 0]], f"{node.name}/pads")
    if fill == 0.0:
        ctx.op("PAD", [x, pads], [padded])
    else:
        ctx.op("PADV2", [x, pads, ctx.const(np.array(fill, np.float32), f"{node.name}/fill")], [padded])
    return _VALID, padded


def _conv_operands(node, ctx: TFLiteContext):
    w = ctx.weight(node.inputs[1])
    if w is None:
        raise unsupported_attr("W", node.inputs[1], "LiteRT convolutions need constant weights")
    if w.ndim not in (3, 4, 5):
        raise unsupported_attr("kernel_shape", list(w.shape[2:]), "1-D, 2-D and 3-D convolutions only")
    has_b = len(node.inputs) > 2 and node.inputs[2]
    b = ctx.weight(node.inputs[2]) if has_b else None
    if has_b and b is None:
        raise unsupported_attr("B", node.inputs[2], "LiteRT convolutions need a constant bias")
    return w, b, (node.inputs[2] if has_b else f"{node.name}/bias")


def _unit_axis(ctx: TFLiteContext, x: int, name: str, axis: int = 1) -> int:
    """(N, L, C) -> (N, 1, L, C): a 1-D convolution runs as a 2-D one with a unit height."""
    t = ctx.tensors[x]
    dims = list(t.shapeSignature if t.shapeSignature is not None else t.shape)
    y = ctx.tensor(name, dims[:axis] + [1] + dims[axis:])
    ctx.op("EXPAND_DIMS", [x, ctx.ints(axis, f"{name}/axis")], [y])
    return y


@register("Conv")
def export_conv(ctx: TFLiteContext, node) -> None:
    w, b, bias_name = _conv_operands(node, ctx)
    nd = w.ndim - 2
    strides, dil, begin, end = _geometry(node, nd)
    group = int(attr(node, "group"))
    x_ir = ctx.ir_shape(node.inputs[0])
    cin, cout = x_ir[1], w.shape[0]
    b = np.zeros(cout, np.float32) if b is None else b
    if nd == 3:
        return _conv3d(node, ctx, w, b, bias_name, strides, dil, begin, end, group)
    depthwise = group > 1 and group == cin and w.shape[1] == 1
    x = ctx.get(node.inputs[0], channels_last(nd + 2))
    spatial = list(x_ir[2:])
    if nd == 1:  # height 1: (O, I, K) -> (O, I, 1, K)
        x = _unit_axis(ctx, x, f"{node.name}/2d")
        w, spatial = w[:, :, None, :], [1] + spatial
        strides, dil, begin, end = [1] + strides, [1] + dil, [0] + begin, [0] + end
    if attr(node, "auto_pad") == "SAME_UPPER":  # TF 'same' on a size known at run time: LiteRT's SAME
        padding = _SAME
    else:
        padding, x = _padding(ctx, node, x, spatial, list(w.shape[2:]), strides, dil, begin, end)
    act, out_value = ctx.fused(node.outputs[0])
    if nd == 1:
        out_shape = ctx.ir_shape(out_value)
        y = ctx.tensor(f"{out_value}/2d", [out_shape[0], 1, out_shape[2], out_shape[1]])
    else:
        y = ctx.out(out_value, NHWC)
    geo = dict(padding=padding, strideH=strides[0], strideW=strides[1], dilationHFactor=dil[0],
               dilationWFactor=dil[1], fusedActivationFunction=act)
    bias = ctx.const(b.astype(np.float32), bias_name)
    if depthwise:  # (C*m, 1, H, W) -> (1, H, W, C*m)
        filt = ctx.const(np.transpose(w, (1, 2, 3, 0)), node.inputs[1], quant_axis=3)
        ctx.op("DEPTHWISE_CONV_2D", [x, filt, bias], [y], "DepthwiseConv2DOptions",
               depthMultiplier=int(cout // cin), **geo)
    else:  # grouped too: LiteRT reads the group count off the filter's input depth (cin / group)
        filt = ctx.const(np.transpose(w, OIHW_TO_OHWI), node.inputs[1], quant_axis=0 if group == 1 else None)
        ctx.op("CONV_2D", [x, filt, bias], [y], "Conv2DOptions", **geo)
    if nd == 1:
        ctx.op("SQUEEZE", [y], [ctx.out(out_value, channels_last(3))], "SqueezeOptions", squeezeDims=[1])


def _conv3d(node, ctx: TFLiteContext, w, b, bias_name, strides, dil, begin, end, group) -> None:
    if group != 1:
        raise unsupported_attr("group", group, "LiteRT's CONV_3D has no groups")
    x = ctx.get(node.inputs[0], channels_last(5))
    padding = _SAME
    if attr(node, "auto_pad") != "SAME_UPPER":
        padding, x = _padding(ctx, node, x, list(ctx.ir_shape(node.inputs[0])[2:]), list(w.shape[2:]), strides,
                              dil, begin, end)
    act, out_value = ctx.fused(node.outputs[0])
    # OIDHW -> DHWIO; LiteRT has no hybrid CONV_3D, so its filter stays float under dynamic-int8
    filt = ctx.const(np.transpose(w, (2, 3, 4, 1, 0)), node.inputs[1])
    ctx.op("CONV_3D", [x, filt, ctx.const(b.astype(np.float32), bias_name)], [ctx.out(out_value, channels_last(5))],
           "Conv3DOptions", padding=padding, strideD=strides[0], strideH=strides[1], strideW=strides[2],
           dilationDFactor=dil[0], dilationHFactor=dil[1], dilationWFactor=dil[2], fusedActivationFunction=act)


@register("MaxPool", "AveragePool")
def export_pool(ctx: TFLiteContext, node) -> None:
    kernel = [int(k) for k in attr(node, "kernel_shape")]
    if len(kernel) != 2:
        raise unsupported_attr("kernel_shape", kernel, "2-D pooling only")
    strides, dil, begin, end = _geometry(node)
    if any(d != 1 for d in dil):
        raise unsupported_attr("dilations", dil, "LiteRT pooling has no dilation")
    if len(node.outputs) > 1 and node.outputs[1]:
        raise unsupported_attr("Indices", node.outputs[1], "LiteRT pooling returns no indices")
    spatial = list(ctx.ir_shape(node.inputs[0])[2:])
    end0 = list(end)
    if attr(node, "ceil_mode"):  # the ceil overhang becomes end padding
        if not all(isinstance(n, int) for n in spatial):
            raise unsupported_attr("ceil_mode", 1, "ceil-mode pooling needs static spatial sizes")
        end = [max(e, (pool_out_size(n, k, s, b, e, True) - 1) * s + k - n - b)
               for n, k, s, b, e in zip(spatial, kernel, strides, begin, end)]
    is_max = node.op == "MaxPool"
    include = not is_max and bool(attr(node, "count_include_pad"))
    padded = any(begin) or any(end)
    # LiteRT's SAME mean leaves the padding out; counted zero pads become a PAD before VALID
    if padded and include and end != end0:
        raise unsupported_attr("ceil_mode", 1, "average pooling counting pads, with a ceil overhang")
    x = ctx.get(node.inputs[0], NHWC)
    padding, x = _padding(ctx, node, x, spatial, kernel, strides, [1, 1], begin, end,
                          fill=_LOWEST if is_max else 0.0, same_ok=not include)
    if padded and not is_max and not include and padding == _VALID:
        raise unsupported_attr("pads", begin + end0, "average pooling that excludes pads needs TF 'SAME' pads")
    act, out_value = ctx.fused(node.outputs[0])
    ctx.op("MAX_POOL_2D" if is_max else "AVERAGE_POOL_2D", [x], [ctx.out(out_value, NHWC)], "Pool2DOptions",
           padding=padding, strideH=strides[0], strideW=strides[1], filterHeight=kernel[0],
           filterWidth=kernel[1], fusedActivationFunction=act)


@register("GlobalAveragePool", "GlobalMaxPool")
def export_global_pool(ctx: TFLiteContext, node) -> None:
    rank = len(ctx.ir_shape(node.inputs[0]))
    cl = channels_last(rank)
    x = ctx.get(node.inputs[0], cl)
    code = "MEAN" if node.op == "GlobalAveragePool" else "REDUCE_MAX"
    ctx.op(code, [x, ctx.ints(list(range(1, rank - 1)), f"{node.name}/axes")], [ctx.out(node.outputs[0], cl)],
           "ReducerOptions", keepDims=True)
