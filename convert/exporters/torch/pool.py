"""Pooling that torch's pooling layers cannot express (average pooling with dilations or
pads past kernel/2, count_include_pad=0 with asymmetric pads, LpPool with pads, dilations
or ceil_mode) as a window sum: every channel convolved with a kernel of ones (stride and
dilation as given), divided by a per-window count computed at export time."""
from __future__ import annotations

import numpy as np

from ...ir.optable import attr_value
from ...ir.windows import pool_out_size
from .context import TorchContext, py, unsupported_attr
from .layers import torch_pad
from .registry import register


def _geometry(node, ctx: TorchContext) -> tuple[list[int], list[int], list[int], list[int], list[int], list[int]]:
    """(sizes, kernel, strides, dilations, begin pads, end pads incl. the ceil overhang)."""
    from ..common import fixed_pads_only

    fixed_pads_only(node, "torch")
    kernel = [int(k) for k in attr_value(node, "kernel_shape")]
    nd = len(kernel)
    shape = ctx.shape(node.inputs[0])
    if shape is None or len(shape) != nd + 2 or not all(isinstance(d, int) for d in shape[2:]):
        raise unsupported_attr("kernel_shape", kernel, "this pooling is written as a window sum, which needs "
                               "static spatial input sizes")
    sizes = [int(d) for d in shape[2:]]
    strides = [int(s) for s in (attr_value(node, "strides") or [1] * nd)]
    dil = [int(d) for d in (attr_value(node, "dilations") or [1] * nd)]
    pads = [int(p) for p in (attr_value(node, "pads") or [0] * (2 * nd))]
    begin, end = pads[:nd], pads[nd:]
    ceil = bool(attr_value(node, "ceil_mode"))
    grown = []
    for n, k, s, d, b, e in zip(sizes, kernel, strides, dil, begin, end):
        k_eff = (k - 1) * d + 1
        out = pool_out_size(n, k_eff, s, b, e, ceil)
        grown.append(max(e, (out - 1) * s + k_eff - n - b))  # ceil mode: pad the overhang too
    return sizes, kernel, strides, dil, begin, grown


def _axis_counts(n: int, k: int, s: int, d: int, b: int, e: int, grown: int, include_pad: bool) -> np.ndarray:
    """Per output position on one axis, how many window taps fall on the input (or on the
    input and its declared pads with ``include_pad``); taps in the ceil overhang never count."""
    lo, hi = (-b, n + e) if include_pad else (0, n)
    out = (n + b + grown - ((k - 1) * d + 1)) // s + 1
    taps = np.arange(out)[:, None] * s - b + np.arange(k)[None, :] * d
    return ((taps >= lo) & (taps < hi)).sum(1)


def window_sum(node, ctx: TorchContext, x: str) -> tuple[str, list]:
    """Source for the sum of ``x`` over each pooling window (zero padding), and the geometry."""
    sizes, kernel, strides, dil, begin, grown = _geometry(node, ctx)
    nd = len(kernel)
    if nd not in (1, 2, 3):
        raise unsupported_attr("kernel_shape", kernel, "1-3 spatial axes")
    flat = ctx.tmp("windows")
    ctx.line(f"{flat} = F.pad({x}.flatten(0, 1).unsqueeze(1), {torch_pad(begin, grown)})")
    ones = f"torch.ones({py((1, 1, *kernel))}, dtype={flat}.dtype)"
    summed = ctx.tmp("window_sum")
    ctx.line(f"{summed} = F.conv{nd}d({flat}, {ones}, stride={py(tuple(strides))}, dilation={py(tuple(dil))})")
    ctx.line(f"{summed} = {summed}.reshape({x}.shape[0], {x}.shape[1], *{summed}.shape[2:])")
    return summed, [sizes, kernel, strides, dil, begin, grown]


def window_counts(node, geometry: list, include_pad: bool) -> np.ndarray:
    """The divisor of each window as an array broadcasting over (N, C, *out)."""
    sizes, kernel, strides, dil, begin, grown = geometry
    end = [int(p) for p in (attr_value(node, "pads") or [0] * (2 * len(kernel)))][len(kernel):]
    count = np.ones((), dtype=np.float64)
    for n, k, s, d, b, e, g in zip(sizes, kernel, strides, dil, begin, end, grown):
        count = np.multiply.outer(count, _axis_counts(n, k, s, d, b, e, g, include_pad))
    return count.astype(np.float32)[None, None]


def export_avgpool_window(ctx: TorchContext, node) -> None:
    """AveragePool as window sum / count (the count follows count_include_pad)."""
    summed, geometry = window_sum(node, ctx, ctx.x(node.inputs[0]))
    count = ctx.buffer(f"{node.name}_count", window_counts(node, geometry, bool(attr_value(node, "count_include_pad"))))
    ctx.assign(node.outputs[0], f"{summed} / {count}.to({summed}.dtype)")


@register("LpPool")
def export_lppool(ctx: TorchContext, node):
    """(sum over the window of |x|^p)^(1/p); pads add zeros, as in ONNX."""
    p = int(attr_value(node, "p"))
    x = ctx.x(node.inputs[0])
    powered = ctx.tmp("powered")
    ctx.line(f"{powered} = {x}.abs()" + ("" if p == 1 else f".pow({p})"))
    summed, _ = window_sum(node, ctx, powered)
    ctx.assign(node.outputs[0], summed if p == 1 else f"{summed}.pow({py(1.0 / p)})")
