"""Reshaping layers: Flatten, Reshape, Permute, RepeatVector, padding, cropping, upsampling."""
from __future__ import annotations

import math

import numpy as np

from .. import layout as L
from ..context import Call, KerasContext, Ref, tup, unsupported
from ..registry import register
from .conv import spatial_layout

INT64_MAX = int(np.iinfo(np.int64).max)


def _prod(dims):
    return None if any(d is None for d in dims) else int(math.prod(dims))


@register("Flatten", emits=("Flatten",))
def import_flatten(ctx: KerasContext, node: Call) -> list[Ref]:
    """Flattens in Keras element order (channels last), so a following Dense keeps its rows."""
    r = node.inputs[0]
    perm = L.identity(r.rank)
    if node.get("data_format") == "channels_first" and r.rank > 2:
        perm = (0, *range(2, r.rank), 1)  # Keras moves the channels last first
    y = ctx.op("Flatten", ctx.get(r, perm), axis=1)
    return [ctx.ref(y, (r.shape[0], _prod(r.shape[1:])))]


@register("Reshape", emits=("Reshape",))
def import_reshape(ctx: KerasContext, node: Call) -> list[Ref]:
    r = node.inputs[0]
    target = [int(d) for d in node.get("target_shape")]
    y = ctx.op("Reshape", ctx.get(r, L.identity(r.rank)), shape=[0] + target)
    known = _prod(r.shape[1:])
    if -1 in target and known is not None:
        rest = int(math.prod(d for d in target if d != -1))
        target = [known // rest if d == -1 else d for d in target]
    return [ctx.ref(y, (r.shape[0], *[None if d == -1 else d for d in target]))]


@register("Permute", emits=("Transpose",))
def import_permute(ctx: KerasContext, node: Call) -> list[Ref]:
    """One Transpose, keeping the output in the input's layout kind."""
    r = node.inputs[0]
    q = (0, *[int(d) for d in node.get("dims")])
    x, have = ctx.any(r)
    # keras_out = keras_in.transpose(q); want ir_out = keras_out.transpose(have)
    want_from_keras_in = tuple(q[h] for h in have)
    y = ctx.op("Transpose", x, perm=list(L.between(have, want_from_keras_in)))
    return [ctx.ref(y, L.apply(r.shape, q), have)]


@register("RepeatVector", emits=("Tile", "Unsqueeze"))
def import_repeat_vector(ctx: KerasContext, node: Call) -> list[Ref]:
    r = node.inputs[0]
    n = int(node.get("n"))
    x = ctx.op("Unsqueeze", ctx.get(r, L.identity(2)), suffix="unsqueeze", axes=[1])
    return [ctx.ref(ctx.op("Tile", x, repeats=[1, n, 1]), (r.shape[0], n, r.shape[1]))]


def _pairs(v, nd: int) -> list[tuple[int, int]]:
    """Keras padding/cropping config -> [(begin, end)] per spatial axis."""
    if isinstance(v, int):
        return [(v, v)] * nd
    v = list(v)
    if nd == 1 and len(v) == 2 and all(isinstance(x, int) for x in v):
        return [(int(v[0]), int(v[1]))]
    out = []
    for x in v:
        out.append((int(x), int(x)) if isinstance(x, int) else (int(x[0]), int(x[1])))
    return out


def _spatial_axes(call: Call, rank: int) -> list[int]:
    return list(range(2, rank)) if call.get("data_format") == "channels_first" else list(range(1, rank - 1))


@register("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", emits=("Pad",))
def import_zero_padding(ctx: KerasContext, node: Call) -> list[Ref]:
    r = node.inputs[0]
    axes = _spatial_axes(node, r.rank)
    pads = _pairs(node.get("padding"), len(axes))
    x, perm = ctx.any(r)
    begin, end = [0] * r.rank, [0] * r.rank
    shape = list(r.shape)
    for a, (p0, p1) in zip(axes, pads):
        begin[L.ir_axis(a, perm)], end[L.ir_axis(a, perm)] = p0, p1
        shape[a] = None if shape[a] is None else shape[a] + p0 + p1
    y = ctx.op("Pad", x, pads=begin + end, mode="constant", value=0.0)
    return [ctx.ref(y, tuple(shape), perm)]


@register("Cropping1D", "Cropping2D", "Cropping3D", emits=("Slice",))
def import_cropping(ctx: KerasContext, node: Call) -> list[Ref]:
    r = node.inputs[0]
    axes = _spatial_axes(node, r.rank)
    crops = _pairs(node.get("cropping"), len(axes))
    x, perm = ctx.any(r)
    shape = list(r.shape)
    starts, ends, ir_axes = [], [], []
    for a, (c0, c1) in zip(axes, crops):
        ir_axes.append(L.ir_axis(a, perm))
        starts.append(c0)
        ends.append(-c1 if c1 else INT64_MAX)
        shape[a] = None if shape[a] is None else shape[a] - c0 - c1
    y = ctx.op("Slice", x, starts=starts, ends=ends, axes=ir_axes)
    return [ctx.ref(y, tuple(shape), perm)]


@register("UpSampling1D", emits=("Resize",))
def import_up_sampling1d(ctx: KerasContext, node: Call) -> list[Ref]:
    r = node.inputs[0]
    n = int(node.get("size", 2))
    x, perm = ctx.any(r)
    scales = [1.0] * 3
    scales[L.ir_axis(1, perm)] = float(n)
    y = ctx.op("Resize", x, scales=scales, mode="nearest", coordinate_transformation_mode="asymmetric",
               nearest_mode="floor")
    return [ctx.ref(y, (r.shape[0], None if r.shape[1] is None else r.shape[1] * n, r.shape[2]), perm)]


@register("UpSampling2D", "UpSampling3D", emits=("Resize",))
def import_up_sampling(ctx: KerasContext, node: Call) -> list[Ref]:
    """nearest is ops.repeat (asymmetric, floor); bilinear is tf.image.resize (half_pixel)."""
    r = node.inputs[0]
    nd = r.rank - 2
    size = tup(node.get("size", 2), nd)
    interp = node.get("interpolation", "nearest")
    modes = {"nearest": ("nearest", "asymmetric"), "bilinear": ("linear", "half_pixel")}
    if interp not in modes or (nd == 3 and interp != "nearest"):
        raise unsupported("interpolation", interp, "nearest or bilinear")
    perm = spatial_layout(node, r.rank)
    mode, ctm = modes[interp]
    extra = {"nearest_mode": "floor"} if mode == "nearest" else {}
    y = ctx.op("Resize", ctx.get(r, perm), scales=[1.0, 1.0, *[float(s) for s in size]], mode=mode,
               coordinate_transformation_mode=ctm, **extra)
    shape = list(r.shape)
    for a, s in zip(_spatial_axes(node, r.rank), size):
        shape[a] = None if shape[a] is None else shape[a] * s
    return [ctx.ref(y, tuple(shape), perm)]
