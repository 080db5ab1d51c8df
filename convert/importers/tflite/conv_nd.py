"""LiteRT's CONV_3D and TRANSPOSE_CONV -> IR Conv / ConvTranspose (channels-last values
wrapped in Transposes, as the 2-D convolutions are)."""
from __future__ import annotations

import numpy as np

from .context import TFLiteImportContext as TFLiteContext, unsupported_attr
from .ops import _SAME, FUSED_OPS, _pads
from .registry import register


def _filter(ctx: TFLiteContext, op, perm: tuple) -> tuple[str, np.ndarray]:
    w = ctx.array(op)
    if w is None:
        raise unsupported_attr("filter", ctx.tensor(op).name, "computed filters")
    w = np.ascontiguousarray(np.transpose(w, perm))
    return ctx.b.weight(ctx.tensor(op).name, w), w


@register("CONV_3D", emits=("Conv", "Transpose", *FUSED_OPS))
def import_conv3d(ctx: TFLiteContext, node) -> None:
    o = node.options
    filt, w = _filter(ctx, node.inputs[1], (4, 3, 0, 1, 2))  # DHWIO -> OIDHW
    if ctx.shape(node.inputs[0])[4] != w.shape[1]:
        raise unsupported_attr("filter", ctx.tensor(node.inputs[1]).name, "grouped CONV_3D")
    strides = [o.strideD, o.strideH, o.strideW]
    dil = [o.dilationDFactor, o.dilationHFactor, o.dilationWFactor]
    ins = [ctx.to_nchw(ctx.value(node.inputs[0]), 5), filt]
    if len(node.inputs) > 2 and node.inputs[2] >= 0:
        ins.append(ctx.value(node.inputs[2]))
    y = ctx.b.op("Conv", *ins, kernel_shape=list(w.shape[2:]), strides=strides, dilations=dil,
                 pads=_pads(ctx, node, w.shape[2:], strides, dil), group=1)
    ctx.set(node.outputs[0], ctx.activation(ctx.to_nhwc(y, 5), o.fusedActivationFunction))


@register("TRANSPOSE_CONV", emits=("ConvTranspose", "Transpose", *FUSED_OPS))
def import_transpose_conv(ctx: TFLiteContext, node) -> None:
    """Inputs (output_shape, filter OHWI, x, bias?). The full result (n-1)*s + k is cropped to
    the output size: SAME takes the centre (TensorFlow's split, the extra at the end), VALID
    the start; an output larger than the full result is ONNX's output_padding."""
    o = node.options
    filt, w = _filter(ctx, node.inputs[1], (3, 0, 1, 2))  # OHWI -> (C_in, C_out, H, W)
    size = list(ctx.shape(node.outputs[0])[1:3])
    if any(d < 0 for d in size):
        shape = ctx.array(node.inputs[0])
        size = [] if shape is None else [int(d) for d in np.asarray(shape).reshape(-1)[1:3]]
    if len(size) != 2 or any(d < 0 for d in size):
        raise unsupported_attr("output_shape", ctx.tensor(node.inputs[0]).name, "a static output size")
    strides = [o.strideH, o.strideW]
    full = [(n - 1) * s + k for n, s, k in zip(ctx.shape(node.inputs[2])[1:3], strides, w.shape[2:])]
    begin, end, extra = [], [], []
    for f, n, s in zip(full, size, strides):
        cut = f - n
        if cut < 0 and -cut >= s:
            raise unsupported_attr("output_shape", size, f"more than stride-1 past the full size {full}")
        first = cut // 2 if (o.padding == _SAME and cut > 0) else 0
        begin.append(first)
        end.append(max(cut, 0) - first)
        extra.append(max(-cut, 0))
    ins = [ctx.to_nchw(ctx.value(node.inputs[2])), filt]
    if len(node.inputs) > 3 and node.inputs[3] >= 0:
        ins.append(ctx.value(node.inputs[3]))
    y = ctx.b.op("ConvTranspose", *ins, kernel_shape=list(w.shape[2:]), strides=strides, dilations=[1, 1],
                 pads=begin + end, output_padding=extra, group=1)
    ctx.set(node.outputs[0], ctx.activation(ctx.to_nhwc(y), getattr(o, "fusedActivationFunction", 0)))
