"""Ops with data-dependent output sizes (NonZero, Unique, NonMaxSuppression). Their
scalar operands (NMS limits and thresholds) must be constants: they become attributes."""
from __future__ import annotations

import numpy as np

from ..registry import register
from .common import same


@register("NonZero", "Unique")
def import_dynamic(ctx, node):
    same(ctx, node)


def _scalar(ctx, i: int, what: str):
    """An optional scalar operand as a Python number (None when omitted or empty)."""
    if not ctx.has(i):
        return None
    a = np.asarray(ctx.const(i, what)).reshape(-1)
    return a[0].item() if a.size else None


@register("NonMaxSuppression")
def import_nms(ctx, node):
    attrs = {"center_point_box": int(ctx.attr("center_point_box", 0))}
    for i, key, cast in ((2, "max_output_boxes_per_class", int), (3, "iou_threshold", float),
                         (4, "score_threshold", float)):
        v = _scalar(ctx, i, key)
        if v is not None:
            attrs[key] = cast(v)
    ctx.emit("NonMaxSuppression", [ctx.x(0), ctx.x(1)], attrs)


@register("Compress", emits=("Gather", "NonZero", "Reshape", "Squeeze"))
def import_compress(ctx, node):
    """Gather of the positions where the condition holds (along axis, or of the flattened
    input): constant positions for a constant condition, else NonZero's (a data-dependent
    length). A condition shorter than the axis leaves the rest out, as ONNX says."""
    x = ctx.x(0)
    axis = ctx.attr("axis")
    if axis is None:
        x, axis = ctx.tmp("Reshape", [x], shape=[-1]), 0
    else:
        rank = ctx.rank(0)
        axis = int(axis) % rank if rank else int(axis)
    cond = ctx.maybe_const(1)
    if cond is not None:
        positions = ctx.b.weight(ctx.name(1) + "/positions", np.flatnonzero(cond.reshape(-1)).astype(np.int64))
    else:
        positions = ctx.tmp("Squeeze", [ctx.tmp("NonZero", [ctx.x(1)])], axes=[0])
    ctx.emit("Gather", [x, positions], {"axis": axis})
