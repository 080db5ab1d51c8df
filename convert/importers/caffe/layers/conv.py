"""Convolution, Deconvolution, Pooling, InnerProduct, Embed."""
from __future__ import annotations

import numpy as np

from ....errors import UnsupportedAttributeError
from ....ir.optable.pool import caffe_pooled_size
from ..registry import register


def _per_axis(values, n: int, default: int, what: str) -> list[int]:
    vals = [int(v) for v in values]
    if not vals:
        return [default] * n
    if len(vals) == 1:
        return vals * n
    if len(vals) != n:
        raise UnsupportedAttributeError(what, vals, f"needs 1 or {n} values for {n} spatial axes")
    return vals


def conv_geometry(p, n: int) -> tuple[list[int], list[int], list[int], list[int]]:
    """kernel, stride, pad, dilation per spatial axis (Caffe's BaseConvolutionLayer rules)."""
    if p.HasField("kernel_h") or p.HasField("kernel_w"):
        if n != 2:
            raise UnsupportedAttributeError("kernel_h/kernel_w", (p.kernel_h, p.kernel_w), "2-D only")
        kernel = [p.kernel_h, p.kernel_w]
    else:
        kernel = _per_axis(p.kernel_size, n, 0, "kernel_size")
    if p.HasField("stride_h") or p.HasField("stride_w"):
        stride = [p.stride_h, p.stride_w]
    else:
        stride = _per_axis(p.stride, n, 1, "stride")
    if p.HasField("pad_h") or p.HasField("pad_w"):
        pad = [p.pad_h, p.pad_w]
    else:
        pad = _per_axis(p.pad, n, 0, "pad")
    dilation = _per_axis(p.dilation, n, 1, "dilation")
    if any(k <= 0 for k in kernel):
        raise UnsupportedAttributeError("kernel_size", kernel, "kernel size must be positive")
    return [int(k) for k in kernel], [int(s) for s in stride], [int(q) for q in pad], dilation


def _conv_common(layer, ctx, transposed: bool) -> None:
    p = layer.convolution_param
    if p.axis != 1:
        raise UnsupportedAttributeError("convolution_param.axis", p.axis, "only channel axis 1")
    shp = ctx.shape(0)
    n = len(shp) - 2
    kernel, stride, pad, dil = conv_geometry(p, n)
    group, cin, m = int(p.group), shp[1], int(p.num_output)
    if cin % group or m % group:
        raise UnsupportedAttributeError("group", group, f"does not divide channels {cin} -> {m}")
    wshape = (cin, m // group, *kernel) if transposed else (m, cin // group, *kernel)
    w = ctx.param(0, wshape)
    b = ctx.param(1, (m,)) if p.bias_term else None
    if transposed:
        spatial = [(i - 1) * s - 2 * q + d * (k - 1) + 1 for i, k, s, q, d in zip(shp[2:], kernel, stride, pad, dil)]
    else:
        spatial = [(i + 2 * q - (d * (k - 1) + 1)) // s + 1 for i, k, s, q, d in zip(shp[2:], kernel, stride, pad, dil)]
    if any(o <= 0 for o in spatial):
        raise UnsupportedAttributeError("kernel_size", kernel, f"gives an empty output for input {shp}")
    if transposed and _is_nearest_upsample(w, b, kernel, stride, pad, dil, group, cin, m):
        # Each output is exactly 1.0 * one input value: Resize computes the same numbers
        # without a multiply and runs several times faster than a depthwise ConvTranspose.
        ctx.top(0, "Resize", [ctx.x(0)], (shp[0], m, *spatial), scales=[1.0, 1.0] + [float(k) for k in kernel],
                mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        return
    ins = [ctx.x(0), ctx.weight("W", w)] + ([ctx.weight("b", b)] if b is not None else [])
    ctx.top(0, "ConvTranspose" if transposed else "Conv", ins, (shp[0], m, *spatial), kernel_shape=kernel,
            strides=stride, pads=pad + pad, dilations=dil, group=group)


def _is_nearest_upsample(w, b, kernel, stride, pad, dil, group, cin, m) -> bool:
    """A depthwise Deconvolution with a kernel of ones, stride == kernel, no pad and no
    (or a zero) bias: nearest upsampling by the kernel size, as Caffe nets spell it."""
    if not (group == cin == m and kernel == stride and not any(pad) and all(d == 1 for d in dil)):
        return False
    return bool(np.all(w == 1.0)) and (b is None or not np.any(b))


@register("Convolution", emits=("Conv", "ConvTranspose", "Resize"))
def import_convolution(ctx, node):
    _conv_common(node, ctx, transposed=False)


@register("Deconvolution", emits=("Conv", "ConvTranspose", "Resize"))
def import_deconvolution(ctx, node):
    _conv_common(node, ctx, transposed=True)


@register("Pooling", emits=("AveragePool", "GlobalAveragePool", "GlobalMaxPool", "MaxPool", "Mul"))
def import_pooling(ctx, node):
    p = node.pooling_param
    shp = ctx.shape(0)
    if len(shp) != 4:
        raise UnsupportedAttributeError("input rank", len(shp), "Caffe pools 4-D blobs")
    if p.pool not in (0, 1):
        raise UnsupportedAttributeError("pool", "STOCHASTIC", "stochastic pooling is random; MAX and AVE only")
    op_global = "GlobalMaxPool" if p.pool == 0 else "GlobalAveragePool"
    if p.global_pooling:
        if p.pad or p.pad_h or p.pad_w:
            raise UnsupportedAttributeError("pad", p.pad, "global pooling with padding")
        ctx.top(0, op_global, [ctx.x(0)], (shp[0], shp[1], 1, 1))
        return
    kernel = [p.kernel_h, p.kernel_w] if p.HasField("kernel_h") else [p.kernel_size] * 2
    stride = [p.stride_h, p.stride_w] if p.HasField("stride_h") else [p.stride] * 2
    pad = [p.pad_h, p.pad_w] if (p.HasField("pad_h") or p.HasField("pad_w")) else [p.pad] * 2
    if not all(kernel):
        raise UnsupportedAttributeError("kernel_size", kernel, "missing kernel size")
    ceil = p.round_mode == 0
    if p.HasField("ceil_mode"):  # fork spelling
        ceil = bool(p.ceil_mode)
    out = [caffe_pooled_size(i, k, s, q, ceil) for i, k, s, q in zip(shp[2:], kernel, stride, pad)]
    if out == [1, 1] and kernel == list(shp[2:]) and not any(pad):
        ctx.top(0, op_global, [ctx.x(0)], (shp[0], shp[1], 1, 1))
        return
    # ONNX (floor mode) with an explicit end pad per axis chosen so its size formula
    # gives Caffe's size: neither ONNX's ceil_mode nor its shape inference drop a last
    # window starting in the padding, so the rounding is folded into the pads instead.
    end_pads = []
    for i, k, s, q, o in zip(shp[2:], kernel, stride, pad, out):
        lo, hi = (o - 1) * s + k - i - q, o * s + k - i - q - 1
        e = max(lo, 0)
        if e > hi:
            raise UnsupportedAttributeError("pad", pad, f"no ONNX padding reproduces Caffe's output size {out}")
        end_pads.append(e)
    attrs = dict(kernel_shape=kernel, strides=stride, pads=pad + end_pads)
    out_shape = (shp[0], shp[1], *out)
    if p.pool == 0:  # padding never wins a max
        ctx.top(0, "MaxPool", [ctx.x(0)], out_shape, **attrs)
        return
    # Caffe divides each window's sum by the window clipped to [-pad, size+pad); here
    # every window lies inside the padded input, so AveragePool divides by the full
    # kernel area and constants correct the windows Caffe clips. The clipped area is a
    # product of per-axis lengths, so one small vector per axis (broadcast along the
    # other) does it: no map of the output's size, whatever the input size.
    fixes = []
    for ax, (i, k, s, q, o) in enumerate(zip(shp[2:], kernel, stride, pad, out)):
        starts = np.arange(ctx.claim(f"window sizes of axis {ax}", (o,))[0]) * s - q
        sizes = np.minimum(starts + k, i + q) - starts
        if np.any(sizes != k):
            shape = [1, 1, 1, 1]
            shape[2 + ax] = o
            fixes.append((ax, (k / sizes).astype(np.float32).reshape(shape)))
    if not fixes:
        ctx.top(0, "AveragePool", [ctx.x(0)], out_shape, count_include_pad=1, **attrs)
        return
    y = ctx.op("AveragePool", ctx.x(0), count_include_pad=1, **attrs)
    for n, (ax, fix) in enumerate(fixes):
        w = ctx.weight(f"window_fix_{'hw'[ax]}", fix)
        if n == len(fixes) - 1:
            ctx.top(0, "Mul", [y, w], out_shape)
        else:
            y = ctx.op("Mul", y, w)


@register("InnerProduct", emits=("Gemm", "Reshape"))
def import_inner_product(ctx, node):
    p = node.inner_product_param
    shp = ctx.shape(0)
    axis = ctx.axis(p.axis, len(shp))
    k = int(np.prod(shp[axis:]))
    m = int(np.prod(shp[:axis]))
    n = int(p.num_output)
    w = ctx.weight("W", ctx.param(0, (k, n) if p.transpose else (n, k)))
    x = ctx.x(0)
    if shp != (m, k):
        x = ctx.op("Reshape", x, hint="flatten", shape=[m, k])
    ins = [x, w]
    if p.bias_term:
        ins.append(ctx.weight("b", ctx.param(1, (n,))))
    out_shape = (*shp[:axis], n)
    if out_shape == (m, n):
        ctx.top(0, "Gemm", ins, out_shape, transB=0 if p.transpose else 1)
    else:
        y = ctx.op("Gemm", *ins, transB=0 if p.transpose else 1)
        ctx.top(0, "Reshape", [y], out_shape, shape=list(out_shape))


@register("Embed", emits=("Add", "Cast", "Gather"))
def import_embed(ctx, node):
    p = node.embed_param
    shp = ctx.shape(0)
    n, vocab = int(p.num_output), int(p.input_dim)
    w = ctx.weight("W", ctx.param(0, (vocab, n)))
    # Caffe casts the float indices to int (truncation), as Cast does.
    idx = ctx.op("Cast", ctx.x(0), hint="indices", to="int64")
    out_shape = (*shp, n)
    if p.bias_term:
        y = ctx.op("Gather", w, idx, axis=0)
        ctx.top(0, "Add", [y, ctx.weight("b", ctx.param(1, (n,)))], out_shape)
    else:
        ctx.top(0, "Gather", [w, idx], out_shape, axis=0)
