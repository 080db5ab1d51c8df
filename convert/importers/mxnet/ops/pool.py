"""Pooling (max/avg/sum, 'valid' and 'full' conventions), UpSampling."""
from __future__ import annotations

import math

import numpy as np

from ....errors import UnsupportedAttributeError
from ..context import NodeContext
from ..registry import register


def _window_sizes(size: int, k: int, s: int, p: int, out: int) -> np.ndarray:
    """MXNet's average divisor per window along one axis (count_include_pad): the window
    clipped to the padded extent [-p, size + p)."""
    starts = np.arange(out) * s - p
    return np.minimum(starts + k, size + p) - starts


@register("Pooling", "Pooling_v1", emits=("AveragePool", "GlobalAveragePool", "GlobalMaxPool", "MaxPool", "Mul"))
def import_pooling(ctx: NodeContext, node):
    shp = ctx.shape(0)
    n = len(shp) - 2
    kind = ctx.choice("pool_type", "max", ("max", "avg", "sum"))
    layout = ctx.str("layout", "None")
    if layout not in ("None", {1: "NCW", 2: "NCHW", 3: "NCDHW"}.get(n)):
        raise UnsupportedAttributeError("layout", layout, "channels-first layouts only")
    if ctx.bool("global_pool", False):
        glob = "GlobalMaxPool" if kind == "max" else "GlobalAveragePool"
        out_shape = (*shp[:2], *([1] * n))
        if kind != "sum":
            ctx.out(glob, [ctx.x(0)], out_shape)
            return
        y = ctx.op(glob, ctx.x(0), dims=out_shape)
        ctx.out("Mul", [y, ctx.weight("area", np.float32(math.prod(shp[2:])))], out_shape)
        return
    kernel = ctx.ints("kernel")
    stride = ctx.ints("stride", [1] * n)
    pad = ctx.ints("pad", [0] * n)
    if not len(kernel) == len(stride) == len(pad) == n:
        raise UnsupportedAttributeError("kernel/stride/pad", (kernel, stride, pad), f"{n} values each")
    conv = ctx.choice("pooling_convention", "valid", ("valid", "full"))
    rnd = math.ceil if conv == "full" else math.floor
    out = [rnd((i + 2 * p - k) / s) + 1 for i, k, s, p in zip(shp[2:], kernel, stride, pad)]
    if any(o <= 0 for o in out):
        raise UnsupportedAttributeError("kernel", kernel, f"gives an empty output for input {shp}")
    # ONNX floor mode with end pads extended so that its size formula gives MXNet's size
    # ('full' rounds up and never drops a window).
    end = [(o - 1) * s + k - i - p for i, k, s, p, o in zip(shp[2:], kernel, stride, pad, out)]
    end = [max(e, 0) for e in end]
    attrs = dict(kernel_shape=kernel, strides=stride, pads=pad + end)
    out_shape = (*shp[:2], *out)
    if kind == "max":  # padding never wins a max
        ctx.out("MaxPool", [ctx.x(0)], out_shape, **attrs)
        return
    area = math.prod(kernel)
    if kind == "avg" and not ctx.bool("count_include_pad", True):
        ctx.out("AveragePool", [ctx.x(0)], out_shape, count_include_pad=0, **attrs)
        return
    # AveragePool over the (extended) padded input divides every window by the kernel
    # area; MXNet divides by the window clipped to [-pad, size + pad) (sum: by 1).
    div = np.ones(out, np.float64)
    for ax, (i, k, s, p) in enumerate(zip(shp[2:], kernel, stride, pad)):
        sizes = _window_sizes(i, k, s, p, out[ax]).astype(np.float64)
        div = div * sizes.reshape([-1 if a == ax else 1 for a in range(n)])
    if kind == "sum":
        div = np.ones_like(div)
    if np.all(div == area):
        ctx.out("AveragePool", [ctx.x(0)], out_shape, count_include_pad=1, **attrs)
        return
    y = ctx.op("AveragePool", ctx.x(0), dims=out_shape, count_include_pad=1, **attrs)
    fix = ctx.weight("window_fix", (area / div).astype(np.float32).reshape(1, 1, *out))
    ctx.out("Mul", [y, fix], out_shape)


@register("UpSampling", emits=("ConvTranspose", "Resize"))
def import_upsampling(ctx: NodeContext, node):
    kind = ctx.choice("sample_type", "nearest", ("nearest", "bilinear"))
    if ctx.int("num_args", 1) != (1 if kind == "nearest" else 2):  # bilinear counts its weight
        raise UnsupportedAttributeError("num_args", ctx.int("num_args"), "one input (several: a multi-input sum)")
    s = ctx.int("scale")
    shp = ctx.shape(0)
    if len(shp) != 4:
        raise UnsupportedAttributeError("input rank", len(shp), "4-D input")
    out_shape = (shp[0], shp[1], shp[2] * s, shp[3] * s)
    if kind == "nearest":
        ctx.out("Resize", [ctx.x(0)], out_shape, scales=[1.0, 1.0, float(s), float(s)], mode="nearest",
                coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        return
    # bilinear: a depthwise Deconvolution with the given weight (MXNet's definition)
    c = shp[1]
    k, p = 2 * s - s % 2, math.ceil((s - 1) / 2)
    if ctx.int("num_filter", c) != c:
        raise UnsupportedAttributeError("num_filter", ctx.int("num_filter"), f"must equal the channels {c}")
    w = ctx.param(1, (c, 1, k, k))
    ctx.out("ConvTranspose", [ctx.x(0), ctx.weight("weight", w)], out_shape, kernel_shape=[k, k],
            strides=[s, s], pads=[p, p, p, p], group=c)
