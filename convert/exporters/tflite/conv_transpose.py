"""ConvTranspose (1-D and 2-D) as LiteRT's TRANSPOSE_CONV, channels-last.

TRANSPOSE_CONV has no dilation and only SAME/VALID padding; it writes the VALID result
into an output of the size it is given (positions past the kernels' reach hold the bias
alone, as ONNX's output_padding does). So every case runs VALID into an output large
enough for the pads' offset and the output padding, then one STRIDED_SLICE crops the
pads. The output shape carries the batch read off the input at run time (SHAPE), so the
batch stays dynamic."""
from __future__ import annotations

import numpy as np

from .context import TFLiteContext, attr, channels_last, unsupported_attr
from .conv import _VALID, _conv_operands, _geometry, _unit_axis
from .registry import register


def _output_shape(ctx: TFLiteContext, node, x: int, tail: list[int]) -> int:
    """int32 [batch, *tail]: the batch from the input tensor when it is dynamic."""
    t = ctx.tensors[x]
    batch = (t.shapeSignature if t.shapeSignature is not None else t.shape)[0]
    if batch >= 0:
        return ctx.ints([batch] + tail, f"{node.name}/output_shape")
    S = ctx.S
    shape = ctx.tensor(f"{node.name}/in_shape", [len(t.shape)], "int32")
    ctx.op("SHAPE", [x], [shape], "ShapeOptions", outType=S.TensorType.INT32)
    n = ctx.tensor(f"{node.name}/batch", [1], "int32")
    ctx.op("STRIDED_SLICE", [shape, ctx.ints([0], f"{node.name}/b0"), ctx.ints([1], f"{node.name}/b1"),
                             ctx.ints([1], f"{node.name}/b1")], [n], "StridedSliceOptions")
    out = ctx.tensor(f"{node.name}/output_shape", [len(t.shape)], "int32")
    ctx.op("CONCATENATION", [n, ctx.ints(tail, f"{node.name}/tail")], [out], "ConcatenationOptions", axis=0)
    return out


@register("ConvTranspose")
def export_conv_transpose(ctx: TFLiteContext, node) -> None:
    w, b, bias_name = _conv_operands(node, ctx)  # W (C_in, C_out/group, *kernel)
    nd = w.ndim - 2
    if nd not in (1, 2):
        raise unsupported_attr("kernel_shape", list(w.shape[2:]), "1-D and 2-D transposed convolutions only")
    if int(attr(node, "group")) != 1:
        raise unsupported_attr("group", attr(node, "group"), "LiteRT's TRANSPOSE_CONV has no groups")
    strides, dil, begin, end = _geometry(node, nd)
    if any(d != 1 for d in dil):
        raise unsupported_attr("dilations", dil, "LiteRT's TRANSPOSE_CONV has no dilation")
    extra = [int(o) for o in (attr(node, "output_padding") or [0] * nd)]
    x_ir = ctx.ir_shape(node.inputs[0])
    spatial = list(x_ir[2:])
    if not all(isinstance(n, int) for n in spatial):
        raise unsupported_attr("spatial", spatial, "transposed convolutions need static spatial sizes")
    cout = w.shape[1]
    x = ctx.get(node.inputs[0], channels_last(nd + 2))
    if nd == 1:
        x = _unit_axis(ctx, x, f"{node.name}/2d")
        w, spatial, strides = w[:, :, None, :], [1] + spatial, [1] + strides
        begin, end, extra = [0] + begin, [0] + end, [0] + extra
    kernel = list(w.shape[2:])
    want = [(n - 1) * s + k - bg - e + o for n, s, k, bg, e, o in zip(spatial, strides, kernel, begin, end, extra)]
    size = [max((n - 1) * s + k, bg + o) for n, s, k, bg, o in zip(spatial, strides, kernel, begin, want)]
    act, out_value = ctx.fused(node.outputs[0])
    batch = ctx.ir_shape(out_value)[0]
    crop = size != want
    if not crop and nd == 2:
        y = ctx.out(out_value, channels_last(4))
    else:
        y = ctx.tensor(f"{out_value}/full", [batch] + size + [cout])
    filt = ctx.const(np.transpose(w, (1, 2, 3, 0)), node.inputs[1])  # (C_in, C_out, H, W) -> OHWI
    bias = ctx.const((np.zeros(cout, np.float32) if b is None else b).astype(np.float32), bias_name)
    ctx.op("TRANSPOSE_CONV", [_output_shape(ctx, node, x, size + [cout]), filt, x, bias], [y],
           "TransposeConvOptions", padding=_VALID, strideH=strides[0], strideW=strides[1],
           fusedActivationFunction=act)
    if crop:
        cropped = ctx.out(out_value, channels_last(4)) if nd == 2 else ctx.tensor(f"{out_value}/2d",
                                                                                     [batch] + want + [cout])
        ctx.op("STRIDED_SLICE", [y, ctx.ints([0] + begin + [0], f"{node.name}/crop_begin"),
                                 ctx.ints([0] + [bg + n for bg, n in zip(begin, want)] + [0], f"{node.name}/crop_end"),
                                 ctx.ints([1] * 4, f"{node.name}/crop_strides")], [cropped],
               "StridedSliceOptions", beginMask=0b1001, endMask=0b1001)
        y = cropped
    if nd == 1:
        ctx.op("SQUEEZE", [y], [ctx.out(out_value, channels_last(3))], "SqueezeOptions", squeezeDims=[1])
