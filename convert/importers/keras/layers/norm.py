"""Normalisation layers."""
from __future__ import annotations

import numpy as np

from .. import layout as L
from ..context import Call, KerasContext, Ref, unsupported
from ..registry import register


def _axes(call: Call, rank: int) -> list[int]:
    axis = call.get("axis", -1)
    axis = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    return sorted(int(a) % rank for a in axis)


def _broadcast(vec: np.ndarray, rank: int, axis: int, perm) -> np.ndarray:
    shape = [1] * rank
    shape[L.ir_axis(axis, perm)] = vec.size
    return vec.reshape(shape)


@register("BatchNormalization", emits=("Add", "BatchNormalization", "Mul"))
def import_batch_normalization(ctx: KerasContext, node: Call) -> list[Ref]:
    r = node.inputs[0]
    axes = _axes(node, r.rank)
    if len(axes) != 1 or axes[0] == 0:
        raise unsupported("axis", node.get("axis"), "one non-batch axis")
    if node.get("renorm"):
        raise unsupported("renorm", True)
    axis = axes[0]
    c = r.shape[axis]
    center, scale = node.get("center", True), node.get("scale", True)
    arrays = node.take(*([(c,)] * (2 + int(center) + int(scale))))
    gamma = arrays.pop(0) if scale else np.ones(ctx.claim("scale of ones", (c,)), np.float32)
    beta = arrays.pop(0) if center else np.zeros(ctx.claim("zero shift", (c,)), np.float32)
    mean, var = arrays
    eps = float(node.get("epsilon", 1e-3))
    x, perm = ctx.any(r)
    if L.ir_axis(axis, perm) == 1:
        ins = [x, ctx.const("gamma", gamma), ctx.const("beta", beta), ctx.const("moving_mean", mean),
               ctx.const("moving_variance", var)]
        return [ctx.ref(ctx.node("BatchNormalization", ins, {"epsilon": eps})[0], r.shape, perm)]
    # The normalised axis is not IR axis 1 here: scale and shift with broadcasting
    # instead of transposing around the op.
    k = (gamma / np.sqrt(var.astype(np.float64) + eps)).astype(np.float32)
    shift = (beta - mean * k).astype(np.float32)
    y = ctx.op("Mul", x, ctx.const("scale", _broadcast(k, r.rank, axis, perm)), suffix="scale")
    y = ctx.op("Add", y, ctx.const("shift", _broadcast(shift, r.rank, axis, perm)))
    return [ctx.ref(y, r.shape, perm)]


@register("LayerNormalization", emits=("LayerNormalization",))
def import_layer_normalization(ctx: KerasContext, node: Call) -> list[Ref]:
    r = node.inputs[0]
    axes = _axes(node, r.rank)
    if node.get("rms_scaling"):
        raise unsupported("rms_scaling", True)
    if 0 in axes:
        raise unsupported("axis", node.get("axis"), "axes other than the batch")
    norm_shape = tuple(r.shape[a] for a in axes)
    center, scale = node.get("center", True), node.get("scale", True)
    arrays = node.take(*([norm_shape] * (int(center) + int(scale))))
    gamma = arrays.pop(0) if scale else np.ones(ctx.claim("scale of ones", norm_shape), np.float32)
    beta = arrays.pop(0) if center else None
    x, perm = ctx.any(r)
    first = r.rank - len(axes)
    if tuple(perm[first:]) != tuple(axes):
        # The IR op normalises trailing axes: move the normalised ones last, in order.
        perm = tuple(a for a in range(r.rank) if a not in axes) + tuple(axes)
        x = ctx.get(r, perm)
    ins = [x, ctx.const("gamma", gamma)] + ([ctx.const("beta", beta)] if beta is not None else [])
    # Counted from the end: exporters that do not know the rank (a dynamic length) still can.
    y = ctx.node("LayerNormalization", ins, {"axis": first - r.rank, "epsilon": float(node.get("epsilon", 1e-3))})[0]
    return [ctx.ref(y, r.shape, perm)]


@register("GroupNormalization", emits=("GroupNormalization",))
def import_group_normalization(ctx: KerasContext, node: Call) -> list[Ref]:
    """Groups of channels (the ``axis``) normalised over the group and every other non-batch axis."""
    r = node.inputs[0]
    axes = _axes(node, r.rank)
    axis = axes[0] if len(axes) == 1 else 0
    if axis == 0:
        raise unsupported("axis", node.get("axis"), "one non-batch channel axis")
    c, groups = r.shape[axis], int(node.get("groups", 32))
    if c is None or groups <= 0 or c % groups:
        raise unsupported("groups", groups, f"a divisor of the {c} channels")
    center, scale = node.get("center", True), node.get("scale", True)
    arrays = node.take(*([(c,)] * (int(center) + int(scale))))
    gamma = arrays.pop(0) if scale else np.ones(ctx.claim("scale of ones", (c,)), np.float32)
    beta = arrays.pop(0) if center else np.zeros(ctx.claim("zero shift", (c,)), np.float32)
    x, perm = ctx.any(r)
    if L.ir_axis(axis, perm) != 1:
        perm = L.axis_first(r.rank, axis)
        x = ctx.get(r, perm)
    ins = [x, ctx.const("gamma", gamma), ctx.const("beta", beta)]
    y = ctx.node("GroupNormalization", ins, {"num_groups": groups, "epsilon": float(node.get("epsilon", 1e-3))})[0]
    return [ctx.ref(y, r.shape, perm)]


@register("Normalization", emits=("Add", "Div", "Mul", "Sub"))
def import_normalization(ctx: KerasContext, node: Call) -> list[Ref]:
    """(x - mean) / max(sqrt(var), epsilon), or its inverse; keras.backend.epsilon() = 1e-7."""
    r = node.inputs[0]
    if node.get("mean") is not None:
        mean, var = np.asarray(node.get("mean"), np.float32), np.asarray(node.get("variance"), np.float32)
    else:
        arrays = node.take(None, None, None)  # mean, variance, count (adapt state)
        mean, var = arrays[0].astype(np.float32), arrays[1].astype(np.float32)
    x, perm = ctx.any(r)
    # Stored with the kept axes of the input (batch axis 1): broadcast, then into the IR layout.
    # A single mean/variance stays a broadcast scalar (no array of the kept axes' size).
    bshape = [1] * r.rank
    scalar = mean.size == 1 and var.size == 1
    for a in (_axes(node, r.rank) if node.get("axis", -1) is not None and not scalar else []):
        bshape[a] = r.shape[a]
    ctx.claim("mean and variance", (2, *bshape))
    mean = (mean.reshape(()) if mean.size == 1 else mean.reshape(bshape)) * np.ones(bshape, np.float32)
    var = (var.reshape(()) if var.size == 1 else var.reshape(bshape)) * np.ones(bshape, np.float32)
    mean, var = np.transpose(mean, perm), np.transpose(var, perm)
    denom = np.maximum(np.sqrt(var), np.float32(1e-7)).astype(np.float32)
    if node.get("invert"):
        y = ctx.op("Add", ctx.op("Mul", x, ctx.const("std", denom), suffix="scale"), ctx.const("mean", mean))
    else:
        y = ctx.op("Div", ctx.op("Sub", x, ctx.const("mean", mean), suffix="center"), ctx.const("std", denom))
    return [ctx.ref(y, r.shape, perm)]


@register("UnitNormalization", emits=("Clip", "Div", "ReduceSumSquare", "Sqrt"))
def import_unit_normalization(ctx: KerasContext, node: Call) -> list[Ref]:
    """x / sqrt(max(sum x^2, 1e-12)) over the axes (keras.utils.normalize semantics)."""
    r = node.inputs[0]
    x, perm = ctx.any(r)
    axes = sorted(L.ir_axis(a, perm) for a in _axes(node, r.rank))
    ss = ctx.node("ReduceSumSquare", [x], {"axes": axes, "keepdims": 1}, suffix="sumsq")[0]
    ss = ctx.op("Clip", ss, suffix="clip", min=1e-12)
    y = ctx.op("Div", x, ctx.op("Sqrt", ss, suffix="norm"))
    return [ctx.ref(y, r.shape, perm)]
