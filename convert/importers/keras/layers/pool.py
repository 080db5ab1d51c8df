"""Pooling. TF's 'same' pooling pads asymmetrically (extra at the end) and averages
over the valid elements only (count_include_pad=0)."""
from __future__ import annotations

import numpy as np

from .. import layout as L
from .. import masks
from ..context import Call, KerasContext, Ref, tup, unsupported
from ..registry import register
from .conv import _out_shape, channels, geometry, spatial_dims, spatial_layout


def _pool(ctx: KerasContext, call: Call, op: str) -> list[Ref]:
    r = call.inputs[0]
    nd = r.rank - 2
    k = tup(call.get("pool_size"), nd)
    s = tup(call.get("strides") or k, nd)
    sizes = spatial_dims(call, r.shape)
    padding, spatial = geometry(sizes, k, s, (1,) * nd, call.get("padding", "valid"))
    perm = spatial_layout(call, r.rank)
    attrs = {"kernel_shape": list(k), "strides": list(s), **padding}
    if op == "AveragePool":
        attrs["count_include_pad"] = 0
    y = ctx.node(op, [ctx.get(r, perm)], attrs)[0]
    return [ctx.ref(y, _out_shape(call, r.shape, spatial, channels(call, r.shape)), perm)]


@register("MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "MaxPool1D", "MaxPool2D", "MaxPool3D",
          emits=("AveragePool", "MaxPool"))
def import_max_pooling(ctx: KerasContext, node: Call) -> list[Ref]:
    return _pool(ctx, node, "MaxPool")


@register("AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "AvgPool1D", "AvgPool2D", "AvgPool3D",
          emits=("AveragePool",))
def import_average_pooling(ctx: KerasContext, node: Call) -> list[Ref]:
    return _pool(ctx, node, "AveragePool")


def _global(ctx: KerasContext, call: Call, op: str, reduce: str) -> list[Ref]:
    r = call.inputs[0]
    fmt = call.get("data_format") or "channels_last"
    keep = bool(call.get("keepdims", False))
    spatial_axes = list(range(2, r.rank)) if fmt == "channels_first" else list(range(1, r.rank - 1))
    c = channels(call, r.shape)
    kshape = tuple(1 if a in spatial_axes else d for a, d in enumerate(r.shape))
    x, perm = ctx.any(r)
    if perm == spatial_layout(call, r.rank):
        # Already channels-first: the Global*Pool ops keep the spatial axes as size 1.
        y = ctx.node(op, [x])[0]
        if keep:
            return [ctx.ref(y, kshape, perm)]
        y = ctx.op("Flatten", y, suffix="flatten", axis=1)
        return [ctx.ref(y, (r.shape[0], c))]
    axes = sorted(L.ir_axis(a, perm) for a in spatial_axes)
    y = ctx.node(reduce, [x], {"axes": axes, "keepdims": int(keep)})[0]
    if keep:
        return [ctx.ref(y, kshape, perm)]
    rest = [p for p in perm if p not in spatial_axes]
    return [ctx.ref(y, (r.shape[0], c), _rank_perm(rest))]


def _rank_perm(rest: list[int]) -> tuple:
    """Layout of what remains after reducing: the kept Keras axes, renumbered."""
    order = sorted(rest)
    return tuple(order.index(a) for a in rest)


@register("GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
          "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D", emits=("Flatten", "GlobalAveragePool", "ReduceMean"))
def import_global_average_pooling(ctx: KerasContext, node: Call) -> list[Ref]:
    mask = masks.of(ctx, node)
    if mask is not None:
        return _masked_mean(ctx, node, mask)
    return _global(ctx, node, "GlobalAveragePool", "ReduceMean")


def _masked_mean(ctx: KerasContext, call: Call, mask: str) -> list[Ref]:
    """Keras: sum(where(mask, x, 0)) / sum(mask) over the steps (a fully masked row is 0/0)."""
    r = call.inputs[0]
    if r.rank != 3 or (call.get("data_format") or "channels_last") != "channels_last":
        raise unsupported("mask", "with data_format channels_first", "masked pooling of (batch, steps, features)")
    keep = bool(call.get("keepdims", False))
    x = ctx.get(r, L.identity(3))
    m = ctx.op("Unsqueeze", mask, suffix="mask3", axes=[2])
    zero = ctx.const("zero", np.zeros((), np.float32))
    total = ctx.node("ReduceSum", [ctx.op("Where", m, x, zero, suffix="masked")], {"axes": [1], "keepdims": int(keep)},
                     suffix="sum")[0]
    count = ctx.node("ReduceSum", [masks.as_float(ctx, m)], {"axes": [1], "keepdims": int(keep)}, suffix="count")[0]
    shape = (r.shape[0], 1, r.shape[2]) if keep else (r.shape[0], r.shape[2])
    return [ctx.ref(ctx.op("Div", total, count), shape, L.identity(len(shape)))]


@register("GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
          "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D", emits=("Flatten", "GlobalMaxPool", "ReduceMax"))
def import_global_max_pooling(ctx: KerasContext, node: Call) -> list[Ref]:
    return _global(ctx, node, "GlobalMaxPool", "ReduceMax")
