"""MaxPool / AveragePool / global pools -> Pooling, with Caffe's rounding.

Caffe pools with symmetric pads, window starts o*stride - pad, a CEIL (default) or
FLOOR (round_mode, field 13) output size, and a last window starting in the padding
dropped. An IR pooling maps when its begin pads are Caffe's pad and one of the two
rounding modes gives the IR output size; AVE's divisor (Caffe: window clipped to
[-pad, size+pad)) is corrected exactly by a Scale over (H, W) where it differs.
"""
from __future__ import annotations

import numpy as np

from ...ir.optable.pool import caffe_pooled_size
from ..common import fixed_pads_only
from .context import attr, bad
from .registry import register


def _divisors(out: int, i: int, k: int, s: int, pb: int, pe: int, include_pad: bool, caffe: bool) -> np.ndarray:
    starts = np.arange(out) * s - pb
    if caffe:  # the window clipped to [-pad, size+pad)
        return (np.minimum(starts + k, i + pb) - starts).astype(np.float64)
    if include_pad:  # ONNX: clipped to the padded input
        return (np.minimum(starts + k, i + pe) - np.maximum(starts, -pb)).astype(np.float64)
    return (np.minimum(starts + k, i) - np.maximum(starts, 0)).astype(np.float64)


def _pool(node, ctx, method: int) -> None:
    x, y = ctx.activation(node.inputs[0]), node.outputs[0]
    shp, out = ctx.shape(x), ctx.shape(y)
    if len(shp) != 4:
        raise bad("input rank", len(shp), "Caffe pools 4-D blobs only")
    kernel, strides, begin, end = _window(node)
    modes = _rounding_modes(node, shp, out, kernel, strides, begin, end)
    gamma = None
    if method == 1:
        gamma, y = _average_fix(node, ctx, shp, out, (kernel, strides, begin, end), y)
    top = ctx.tmp("pooled") if gamma is not None else y
    _fill_pooling(ctx.add("Pooling", [x], [top]).pooling_param, method, kernel, strides, begin, ceil=True in modes)
    if gamma is not None:
        s = ctx.add("Scale", [top], [y], suffix="divisor", blobs=[gamma]).scale_param
        s.axis, s.num_axes = 2, 2


def _window(node) -> tuple[list[int], list[int], list[int], list[int]]:
    """(kernel, strides, begin pads, end pads) of a 2-D pooling Caffe can express."""
    fixed_pads_only(node, "Caffe")
    kernel = list(attr(node, "kernel_shape"))
    strides = list(attr(node, "strides") or [1, 1])
    pads = list(attr(node, "pads") or [0, 0, 0, 0])
    if any(d != 1 for d in (attr(node, "dilations") or [1, 1])):
        raise bad("dilations", attr(node, "dilations"), "Caffe pooling has no dilation")
    return kernel, strides, pads[:2], pads[2:]


def _rounding_modes(node, shp, out, kernel, strides, begin, end) -> list[bool]:
    """The Caffe roundings (ceil: True, floor: False) giving the IR's output size."""
    modes = [ceil for ceil in (True, False)
             if [caffe_pooled_size(i, k, s, p, ceil) for i, k, s, p in zip(shp[2:], kernel, strides, begin)] == list(out[2:])]
    if not modes:
        raise bad("pads/ceil_mode", (begin + end, attr(node, "ceil_mode")),
                  f"neither Caffe rounding (CEIL or FLOOR) with pad {begin} gives the output size {list(out[2:])}")
    return modes


def _average_fix(node, ctx, shp, out, window, y: str) -> tuple[np.ndarray | None, str]:
    """(per-position factor turning Caffe's AVE divisor into the IR's, or None where they
    agree; the value the Scale writes). A window-size fix the Caffe importer wrote (Mul by
    a constant map right after) is folded in and its output taken over."""
    kernel, strides, begin, end = window
    include = bool(attr(node, "count_include_pad"))
    ratio = np.ones(out[2:], np.float64)
    for ax, (i, k, s, pb, pe) in enumerate(zip(shp[2:], kernel, strides, begin, end)):
        n = out[2 + ax]
        r = _divisors(n, i, k, s, pb, pe, include, True) / _divisors(n, i, k, s, pb, pe, include, False)
        ratio = ratio * (r.reshape(-1, 1) if ax == 0 else r.reshape(1, -1))
    nxt = ctx.sole_consumer(y)
    if nxt is not None and nxt.op == "Mul" and nxt.inputs[0] == y and nxt.source == node.source:
        fix = ctx.const(nxt.inputs[1])
        if fix is not None and fix.size == ratio.size and fix.shape[-2:] == ratio.shape:
            ratio = ratio * fix.reshape(ratio.shape).astype(np.float64)
            ctx.done.add(nxt.name)
            y = nxt.outputs[0]
    return (None if np.allclose(ratio, 1.0, rtol=0, atol=1e-7) else ratio.astype(np.float32)), y


def _fill_pooling(p, method: int, kernel, strides, begin, ceil: bool) -> None:
    """PoolingParameter fields, the square forms where H and W agree, defaults unset."""
    p.pool = method
    if kernel[0] == kernel[1]:
        p.kernel_size = kernel[0]
    else:
        p.kernel_h, p.kernel_w = kernel
    if strides[0] == strides[1]:
        if strides[0] != 1:
            p.stride = strides[0]
    else:
        p.stride_h, p.stride_w = strides
    if begin[0] == begin[1]:
        if begin[0]:
            p.pad = begin[0]
    else:
        p.pad_h, p.pad_w = begin
    if not ceil:
        p.round_mode = p.FLOOR  # upstream BVLC field 13; CEIL (the default) is left unset


@register("MaxPool")
def export_maxpool(ctx, node):
    _pool(node, ctx, 0)


@register("AveragePool")
def export_averagepool(ctx, node):
    _pool(node, ctx, 1)


def _global(node, ctx, method: int) -> None:
    x = ctx.activation(node.inputs[0])
    if len(ctx.shape(x)) != 4:
        raise bad("input rank", len(ctx.shape(x)), "Caffe pools 4-D blobs only")
    p = ctx.add("Pooling", [x], [node.outputs[0]]).pooling_param
    p.pool = method
    p.global_pooling = True


@register("GlobalMaxPool")
def export_global_maxpool(ctx, node):
    _global(node, ctx, 0)


@register("GlobalAveragePool")
def export_global_averagepool(ctx, node):
    _global(node, ctx, 1)
