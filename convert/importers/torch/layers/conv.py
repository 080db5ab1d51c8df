"""Convolutions, pooling, resizing and padding (NC* layout, as in the IR)."""
from __future__ import annotations

from ....errors import UnsupportedAttributeError
from ..context import Missing, TorchContext
from ..registry import register


def ints(v, n: int) -> list[int]:
    """An int or a list of ints expanded to n entries."""
    if v is None:
        return [0] * n
    if isinstance(v, (list, tuple)):
        v = [int(x) for x in v]
        return v * n if len(v) == 1 else v
    return [int(v)] * n


def _conv(ctx: TorchContext, x, w, bias, stride, padding, dilation, groups) -> str:
    wa = ctx.array(w)
    nsp = ctx.rank(w) - 2
    kernel = list(wa.shape[2:]) if wa is not None else [int(d) for d in ctx.meta(w).shape[2:]]
    dil = ints(dilation, nsp)
    if isinstance(padding, str):
        if padding == "valid":
            pads = [0] * (2 * nsp)
        else:  # torch 'same': total d*(k-1), the odd extra pixel at the end
            total = [d * (k - 1) for d, k in zip(dil, kernel)]
            pads = [t // 2 for t in total] + [t - t // 2 for t in total]
    else:
        p = ints(padding, nsp)
        pads = p + p
    ins = [ctx.v(x), ctx.v(w)] + ([ctx.v(bias)] if bias is not None else [])
    return ctx.op("Conv", *ins, kernel_shape=kernel, strides=ints(stride, nsp), dilations=dil, pads=pads,
                  group=int(groups))


@register("aten.conv1d.default", "aten.conv2d.default", "aten.conv3d.default",
          "aten.conv1d.padding", "aten.conv2d.padding", "aten.conv3d.padding", emits=("Conv",))
def import_conv(ctx: TorchContext, node) -> str:
    x, w, b, stride, padding, dilation, groups = ctx.args(node)
    return _conv(ctx, x, w, b, stride, padding, dilation, groups)


def _conv_transpose(ctx, x, w, bias, stride, padding, output_padding, groups, dilation) -> str:
    nsp = ctx.rank(w) - 2
    kernel = [int(d) for d in ctx.meta(w).shape[2:]]
    p = ints(padding, nsp)
    ins = [ctx.v(x), ctx.v(w)] + ([ctx.v(bias)] if bias is not None else [])
    return ctx.op("ConvTranspose", *ins, kernel_shape=kernel, strides=ints(stride, nsp), pads=p + p,
                  dilations=ints(dilation, nsp), output_padding=ints(output_padding, nsp), group=int(groups))


@register("aten.conv_transpose1d.default", "aten.conv_transpose2d.input", "aten.conv_transpose3d.input",
          emits=("ConvTranspose",))
def import_conv_transpose(ctx: TorchContext, node) -> str:
    x, w, b, stride, padding, output_padding, groups, dilation = ctx.args(node)
    return _conv_transpose(ctx, x, w, b, stride, padding, output_padding, groups, dilation)


@register("aten.convolution.default", emits=("Conv", "ConvTranspose"))
def import_convolution(ctx: TorchContext, node) -> str:
    x, w, b, stride, padding, dilation, transposed, output_padding, groups = ctx.args(node)
    if transposed:
        return _conv_transpose(ctx, x, w, b, stride, padding, output_padding, groups, dilation)
    return _conv(ctx, x, w, b, stride, padding, dilation, groups)


def _pool_common(ctx: TorchContext, x, kernel, stride, padding):
    nsp = ctx.rank(x) - 2
    k = ints(kernel, nsp)
    s = ints(stride, nsp) if stride else k
    p = ints(padding, nsp)
    return k, s, p + p


@register("aten.max_pool1d.default", "aten.max_pool2d.default", "aten.max_pool3d.default", emits=("MaxPool",))
def import_max_pool(ctx: TorchContext, node) -> str:
    x, kernel, stride, padding, dilation, ceil_mode = ctx.args(node)
    k, s, pads = _pool_common(ctx, x, kernel, stride, padding)
    return ctx.op("MaxPool", ctx.v(x), kernel_shape=k, strides=s, pads=pads, dilations=ints(dilation, len(k)),
                  ceil_mode=int(bool(ceil_mode)))


@register("aten.max_pool2d_with_indices.default", "aten.max_pool3d_with_indices.default", emits=("MaxPool",))
def import_max_pool_with_indices(ctx: TorchContext, node) -> list:
    return [import_max_pool(ctx, node), Missing("indices")]


@register("aten.avg_pool1d.default", "aten.avg_pool2d.default", "aten.avg_pool3d.default", emits=("AveragePool",))
def import_avg_pool(ctx: TorchContext, node) -> str:
    a = ctx.args(node)
    x, kernel, stride, padding, ceil_mode, count_include_pad = a[:6]
    if len(a) > 6 and a[6] is not None:
        raise UnsupportedAttributeError("divisor_override", a[6])
    k, s, pads = _pool_common(ctx, x, kernel, stride, padding)
    return ctx.op("AveragePool", ctx.v(x), kernel_shape=k, strides=s, pads=pads, ceil_mode=int(bool(ceil_mode)),
                  count_include_pad=int(bool(count_include_pad)) if any(pads) else 0)


def _adaptive(ctx: TorchContext, node, op: str, global_op: str) -> str:
    x, out_size = ctx.args(node)[:2]
    spatial = ctx.shape(x)[2:]
    out = ints(out_size, len(spatial))
    if all(o == 1 for o in out):
        return ctx.op(global_op, ctx.v(x))
    if any(not isinstance(i, int) or i % o for i, o in zip(spatial, out)):
        raise UnsupportedAttributeError("output_size", out, f"input size {list(spatial)} must be a multiple")
    k = [i // o for i, o in zip(spatial, out)]
    return ctx.op(op, ctx.v(x), kernel_shape=k, strides=k)


@register("aten.adaptive_avg_pool1d.default", "aten.adaptive_avg_pool2d.default", "aten.adaptive_avg_pool3d.default",
          "aten._adaptive_avg_pool2d.default", emits=("AveragePool", "GlobalAveragePool"))
def import_adaptive_avg_pool(ctx: TorchContext, node) -> str:
    return _adaptive(ctx, node, "AveragePool", "GlobalAveragePool")


@register("aten.adaptive_max_pool1d.default", "aten.adaptive_max_pool2d.default", "aten.adaptive_max_pool3d.default",
          emits=("GlobalMaxPool", "MaxPool"))
def import_adaptive_max_pool(ctx: TorchContext, node) -> list:
    return [_adaptive(ctx, node, "MaxPool", "GlobalMaxPool"), Missing("indices")]


def _resize(ctx: TorchContext, node, mode: str, x, output_size, scale_factors, align_corners=None) -> str:
    in_sp = ctx.shape(x)[2:]
    out_sp = ctx.shape(node)[2:]
    if scale_factors:  # torch maps coordinates with the given factor, as ONNX does with scales
        scales = [float(s) for s in ints_f(scale_factors, len(in_sp))]
    else:
        if not all(isinstance(d, int) for d in in_sp + out_sp):
            raise UnsupportedAttributeError("output_size", output_size, "needs static spatial sizes")
        scales = [o / i for o, i in zip(out_sp, in_sp)]
    if mode == "nearest":
        return ctx.op("Resize", ctx.v(x), scales=[1.0, 1.0] + scales, mode="nearest",
                      coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    ctm = "align_corners" if align_corners else "pytorch_half_pixel"
    return ctx.op("Resize", ctx.v(x), scales=[1.0, 1.0] + scales, mode=mode, coordinate_transformation_mode=ctm)


def ints_f(v, n: int) -> list[float]:
    v = list(v) if isinstance(v, (list, tuple)) else [v]
    return v * n if len(v) == 1 else v


@register("aten.upsample_nearest1d.vec", "aten.upsample_nearest2d.vec", "aten.upsample_nearest3d.vec",
          emits=("Resize",))
def import_upsample_nearest(ctx: TorchContext, node) -> str:
    x, size, scales = ctx.args(node)
    return _resize(ctx, node, "nearest", x, size, scales)


@register("aten.upsample_bilinear2d.vec", "aten.upsample_linear1d.vec", "aten.upsample_trilinear3d.vec",
          emits=("Resize",))
def import_upsample_linear(ctx: TorchContext, node) -> str:
    x, size, align, scales = ctx.args(node)
    return _resize(ctx, node, "linear", x, size, scales, align)


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _pad(ctx: TorchContext, x, pad, mode: str, value) -> str:
    rank = ctx.rank(x)
    pad = [int(p) for p in pad]
    begin, end = [0] * rank, [0] * rank
    for i in range(len(pad) // 2):  # torch lists the last axis first
        begin[rank - 1 - i], end[rank - 1 - i] = pad[2 * i], pad[2 * i + 1]
    if mode not in _PAD_MODES:
        raise UnsupportedAttributeError("mode", mode, f"supported: {sorted(_PAD_MODES)}")
    return ctx.op("Pad", ctx.v(x), pads=begin + end, mode=_PAD_MODES[mode],
                  value=float(value or 0.0) if mode == "constant" else None)


@register("aten.pad.default", emits=("Pad",))
def import_pad(ctx: TorchContext, node) -> str:
    x, pad, mode, value = ctx.args(node)
    return _pad(ctx, x, pad, mode, value)


@register("aten.constant_pad_nd.default", emits=("Pad",))
def import_constant_pad(ctx: TorchContext, node) -> str:
    x, pad, value = ctx.args(node)
    return _pad(ctx, x, pad, "constant", value)


@register("aten.reflection_pad1d.default", "aten.reflection_pad2d.default", "aten.reflection_pad3d.default",
          emits=("Pad",))
def import_reflection_pad(ctx: TorchContext, node) -> str:
    x, pad = ctx.args(node)
    return _pad(ctx, x, pad, "reflect", None)


@register("aten.replication_pad1d.default", "aten.replication_pad2d.default", "aten.replication_pad3d.default",
          emits=("Pad",))
def import_replication_pad(ctx: TorchContext, node) -> str:
    x, pad = ctx.args(node)
    return _pad(ctx, x, pad, "replicate", None)


@register("aten.pixel_shuffle.default", emits=("DepthToSpace",))
def import_pixel_shuffle(ctx: TorchContext, node) -> str:
    x, r = ctx.args(node)
    if ctx.rank(x) != 4:
        raise UnsupportedAttributeError("rank", ctx.rank(x), "PixelShuffle on 4-D input only")
    return ctx.op("DepthToSpace", ctx.v(x), blocksize=int(r), mode="CRD")
