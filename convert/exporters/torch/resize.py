"""Resize that F.interpolate cannot express (nearest rounding other than floor, cubic
coefficients other than -0.75, exclude_outside, antialias, half_pixel_symmetric,
tf_crop_and_resize, scaled N or C axes): per resized axis, an index buffer (nearest) or
a weight-matrix buffer, computed from the attributes at export time."""
from __future__ import annotations

import math

import numpy as np

from ...ir.optable import attr_value as attr
from ...ir.resize_weights import axis_weights
from .context import TorchContext, py, unsupported_attr


def _plan(node, shape: tuple, out_shape: tuple | None) -> list[tuple[int, int, int, float]]:
    """(axis, input length, output length, scale) for every axis that changes."""
    scales, sizes = attr(node, "scales"), attr(node, "sizes")
    out = []
    for a, n in enumerate(shape):
        if scales is not None:
            s = float(scales[a])
            if s == 1.0:
                continue
            m = out_shape[a] if out_shape and isinstance(out_shape[a], int) else \
                math.floor(s * n) if isinstance(n, int) else None
        else:
            m = int(sizes[a])
            if m == n:
                continue
            s = m / n if isinstance(n, int) else None
        if not isinstance(n, int) or m is None:
            raise unsupported_attr("scales" if scales is not None else "sizes", list(scales or sizes),
                                   f"axis {a} of the input has no static length")
        out.append((a, n, m, s))
    return out


def export_resize_by_weights(ctx: TorchContext, node) -> None:
    shape = ctx.shape(node.inputs[0])
    if shape is None:
        raise unsupported_attr("coordinate_transformation_mode", attr(node, "coordinate_transformation_mode"),
                               "this resize needs a known input shape")
    mode, ctm = attr(node, "mode"), attr(node, "coordinate_transformation_mode")
    roi = attr(node, "roi")
    rank = len(shape)
    x = ctx.x(node.inputs[0])
    mask = None
    for a, n, m, s in _plan(node, shape, ctx.shape(node.outputs[0])):
        axis_roi = (float(roi[a]), float(roi[rank + a])) if roi else (0.0, 1.0)
        w, valid = axis_weights(n, m, s, mode=mode, ctm=ctm, nearest_mode=attr(node, "nearest_mode"),
                                cubic_a=float(attr(node, "cubic_coeff_a")),
                                exclude_outside=bool(attr(node, "exclude_outside")),
                                antialias=bool(attr(node, "antialias")), roi=axis_roi)
        y = ctx.tmp(f"{node.name}_axis{a}")
        if mode == "nearest" and np.all((w == 0) | (w == 1)) and np.all(w.sum(1)[valid] == 1):
            idx = ctx.buffer(f"{node.name}_index{a}", w.argmax(1).astype(np.int64))
            ctx.line(f"{y} = torch.index_select({x}, {a}, {idx})")
        else:
            wt = ctx.buffer(f"{node.name}_weight{a}", np.ascontiguousarray(w.T.astype(np.float32)))
            ctx.line(f"{y} = torch.movedim(torch.movedim({x}, {a}, -1) @ {wt}.to({x}.dtype), -1, {a})")
        x = y
        if not valid.all():
            axis_mask = valid.reshape([m if k == a else 1 for k in range(rank)])
            mask = axis_mask if mask is None else mask & axis_mask
    if mask is not None:
        keep = ctx.buffer(f"{node.name}_inside", mask)
        x = f"torch.where({keep}, {x}, {py(float(attr(node, 'extrapolation_value')))})"
    ctx.assign(node.outputs[0], x)
