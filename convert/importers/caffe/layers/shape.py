"""Eltwise, Concat, Slice, Flatten, Reshape, Crop, Reduction, ArgMax, Tile, and the fork
layers Permute, Upsample and Resize."""
from __future__ import annotations

import numpy as np

from ....errors import UnsupportedAttributeError
from ..registry import register


@register("Eltwise", emits=("Add", "Max", "Mul", "Sum"))
def import_eltwise(ctx, node):
    p = node.eltwise_param
    shp = ctx.shape(0)
    xs = [ctx.x(i) for i in range(ctx.n_bottoms)]
    if p.operation == 0:  # PROD
        y = xs[0]
        for k, x in enumerate(xs[1:-1], 1):
            y = ctx.op("Mul", y, x, hint=f"prod{k}")
        ctx.top(0, "Mul", [y, xs[-1]], shp)
    elif p.operation == 1:  # SUM, with optional per-input coefficients
        coeffs = list(p.coeff)
        if coeffs and len(coeffs) != len(xs):
            raise UnsupportedAttributeError("coeff", coeffs, f"needs one per bottom ({len(xs)})")
        terms = []
        for k, x in enumerate(xs):
            c = coeffs[k] if coeffs else 1.0
            terms.append(x if c == 1.0 else ctx.op("Mul", x, ctx.const(f"coeff{k}", np.float32(c)), hint=f"coeff{k}"))
        if len(terms) == 2:
            ctx.top(0, "Add", terms, shp)
        else:
            ctx.top(0, "Sum", terms, shp)
    else:
        ctx.top(0, "Max", xs, shp)


@register("Concat", emits=("Concat",))
def import_concat(ctx, node):
    p = node.concat_param
    shp = ctx.shape(0)
    axis = p.concat_dim if p.HasField("concat_dim") and not p.HasField("axis") else p.axis
    axis = ctx.axis(axis, len(shp))
    out = list(shp)
    out[axis] = sum(ctx.shape(i)[axis] for i in range(ctx.n_bottoms))
    ctx.top(0, "Concat", [ctx.x(i) for i in range(ctx.n_bottoms)], out, axis=axis)


@register("Slice", emits=("Split",))
def import_slice(ctx, node):
    p = node.slice_param
    shp = ctx.shape(0)
    axis = p.slice_dim if p.HasField("slice_dim") and not p.HasField("axis") else p.axis
    axis = ctx.axis(axis, len(shp))
    n, size = len(node.top), shp[axis]
    points = list(p.slice_point)
    if points:
        if len(points) != n - 1:
            raise UnsupportedAttributeError("slice_point", points, f"needs {n - 1} points for {n} tops")
        bounds = [0, *points, size]
        sizes = [b - a for a, b in zip(bounds, bounds[1:])]
    else:
        if size % n:
            raise UnsupportedAttributeError("slice_param", n, f"axis size {size} does not split into {n} parts")
        sizes = [size // n] * n
    if any(s <= 0 for s in sizes):
        raise UnsupportedAttributeError("slice_point", points, f"for axis size {size}")
    shapes = []
    for s in sizes:
        o = list(shp)
        o[axis] = s
        shapes.append(o)
    ctx.tops("Split", [ctx.x(0)], shapes, axis=axis, split=sizes)


@register("Flatten", emits=("Reshape",))
def import_flatten(ctx, node):
    p = node.flatten_param
    shp = ctx.shape(0)
    a, e = ctx.axis(p.axis, len(shp)), ctx.axis(p.end_axis, len(shp), "end_axis")
    out = (*shp[:a], int(np.prod(shp[a:e + 1])), *shp[e + 1:])
    ctx.top(0, "Reshape", [ctx.x(0)], out, shape=list(out))


def caffe_reshape(shp: tuple, dims: list[int], axis: int, num_axes: int) -> tuple:
    """Caffe's ReshapeLayer shape rule (0 copies the input dim at that index, one -1 inferred;
    a negative axis counts from rank+1)."""
    rank = len(shp)
    start = axis if axis >= 0 else rank + axis + 1
    if not 0 <= start <= rank:
        raise UnsupportedAttributeError("reshape_param.axis", axis, f"for a {rank}-axis blob")
    end = rank if num_axes == -1 else start + num_axes
    if num_axes < -1 or end > rank:
        raise UnsupportedAttributeError("reshape_param.num_axes", num_axes, f"for a {rank}-axis blob")
    new = []
    for i, d in enumerate(dims):
        new.append(shp[start + i] if d == 0 else d)
    if new.count(-1) > 1:
        raise UnsupportedAttributeError("reshape_param.shape", dims, "more than one -1")
    out = list(shp[:start]) + new + list(shp[end:])
    if -1 in out:
        known = int(np.prod([d for d in out if d != -1]))
        total = int(np.prod(shp))
        if known == 0 or total % known:
            raise UnsupportedAttributeError("reshape_param.shape", dims, f"cannot infer -1 for {shp}")
        out[out.index(-1)] = total // known
    if int(np.prod(out)) != int(np.prod(shp)):
        raise UnsupportedAttributeError("reshape_param.shape", dims, f"{shp} has {int(np.prod(shp))} values")
    return tuple(out)


@register("Reshape", emits=("Reshape",))
def import_reshape(ctx, node):
    p = node.reshape_param
    out = caffe_reshape(ctx.shape(0), list(p.shape.dim), p.axis, p.num_axes)
    ctx.top(0, "Reshape", [ctx.x(0)], out, shape=list(out))


@register("Crop", emits=("Slice",))
def import_crop(ctx, node):
    """Crop bottom 0 to bottom 1's shape on the axes from `axis` on."""
    p = node.crop_param
    shp, ref = ctx.shape(0), ctx.shape(1)
    axis = ctx.axis(p.axis, len(shp))
    offsets = list(p.offset)
    n = len(shp) - axis
    if len(offsets) not in (0, 1, n):
        raise UnsupportedAttributeError("offset", offsets, f"needs 0, 1 or {n} values")
    starts, ends, axes, out = [], [], [], list(shp)
    for k, i in enumerate(range(axis, len(shp))):
        off = offsets[0] if len(offsets) == 1 else (offsets[k] if offsets else 0)
        if off + ref[i] > shp[i]:
            raise UnsupportedAttributeError("offset", offsets, f"crop of {ref} at {off} exceeds {shp}")
        starts.append(off)
        ends.append(off + ref[i])
        axes.append(i)
        out[i] = ref[i]
    ctx.top(0, "Slice", [ctx.x(0)], out, starts=starts, ends=ends, axes=axes)


_REDUCE = {1: "ReduceSum", 2: "ReduceL1", 3: "ReduceSumSquare", 4: "ReduceMean"}


@register("Reduction", emits=("Mul", *_REDUCE.values()))
def import_reduction(ctx, node):
    """Reduces ALL axes from `axis` to the end, then multiplies by coeff."""
    p = node.reduction_param
    shp = ctx.shape(0)
    axis = ctx.axis(p.axis, len(shp))
    out = shp[:axis]
    axes = list(range(axis, len(shp)))
    if p.coeff == 1.0:
        ctx.top(0, _REDUCE[p.operation], [ctx.x(0)], out, axes=axes, keepdims=0)
    else:
        y = ctx.op(_REDUCE[p.operation], ctx.x(0), axes=axes, keepdims=0)
        ctx.top(0, "Mul", [y, ctx.const("coeff", np.float32(p.coeff))], out)


@register("ArgMax", emits=("CaffeArgMax", "Reshape"))
def import_argmax(ctx, node):
    p = node.argmax_param
    shp = ctx.shape(0)
    k = int(p.top_k)
    if p.HasField("axis"):
        axis = ctx.axis(p.axis, len(shp))
        if k > shp[axis]:
            raise UnsupportedAttributeError("top_k", k, f"larger than axis size {shp[axis]}")
        out = list(shp)
        out[axis] = k
        ctx.top(0, "CaffeArgMax", [ctx.x(0)], out, axis=axis, top_k=k, out_max_val=int(p.out_max_val))
        return
    # Per sample over the flattened rest; Caffe's top has max(rank, 3) axes.
    out = [1] * max(len(shp), 3)
    out[0], out[1], out[2] = shp[0], 2 if p.out_max_val else 1, k
    y = ctx.op("CaffeArgMax", ctx.x(0), top_k=k, out_max_val=int(p.out_max_val))
    ctx.top(0, "Reshape", [y], out, shape=out)


@register("Tile", emits=("Tile",))
def import_tile(ctx, node):
    p = node.tile_param
    shp = ctx.shape(0)
    axis = ctx.axis(p.axis, len(shp))
    reps = [1] * len(shp)
    reps[axis] = int(p.tiles)
    out = [d * r for d, r in zip(shp, reps)]
    ctx.top(0, "Tile", [ctx.x(0)], out, repeats=reps)


@register("Permute", emits=("Transpose",))
def import_permute(ctx, node):
    """SSD fork: axes in `order` first, the missing ones after them in their order."""
    shp = ctx.shape(0)
    order = [int(o) for o in node.permute_param.order]
    if len(set(order)) != len(order) or any(o >= len(shp) for o in order):
        raise UnsupportedAttributeError("order", order, f"for a {len(shp)}-axis blob")
    perm = order + [i for i in range(len(shp)) if i not in order]
    ctx.top(0, "Transpose", [ctx.x(0)], [shp[i] for i in perm], perm=perm)


@register("Upsample", emits=("Resize",))
def import_upsample(ctx, node):
    """Fork layer: nearest-neighbour repeat by `scale` on H and W."""
    shp = ctx.shape(0)
    s = int(node.upsample_param.scale)
    if len(shp) != 4:
        raise UnsupportedAttributeError("input rank", len(shp), "4-D only")
    out = (shp[0], shp[1], shp[2] * s, shp[3] * s)
    ctx.top(0, "Resize", [ctx.x(0)], out, scales=[1.0, 1.0, float(s), float(s)], mode="nearest",
            coordinate_transformation_mode="asymmetric", nearest_mode="floor")


def fork_resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) interpolation matrix of the fork's bilinear Resize: src = dst * in/out;
    a neighbour past the end is dropped with its weight (not clamped)."""
    m = np.zeros((n_out, n_in), np.float64)
    scale = np.float32(n_in) / np.float32(n_out)
    for d in range(n_out):
        src = float(np.float32(d) * scale)
        i0 = int(np.floor(src))
        frac = src - i0
        m[d, i0] += 1.0 - frac
        if i0 + 1 < n_in:
            m[d, i0 + 1] += frac
    return m.astype(np.float32)


@register("Resize", emits=("MatMul",))
def import_resize(ctx, node):
    """Fork bilinear Resize as two matrix products: y = A_h @ x @ A_w^T. The fork's
    dropped-neighbour rule is separable, so this is exact."""
    p = node.resize_param
    shp = ctx.shape(0)
    if len(shp) != 4 or not p.height or not p.width:
        raise UnsupportedAttributeError("resize_param", (p.height, p.width), "4-D input with height and width")
    oh, ow = int(p.height), int(p.width)
    ctx.claim("interpolation matrices", (shp[2] * oh + shp[3] * ow,))
    ah = ctx.weight("rows", fork_resize_matrix(shp[2], oh))
    awt = ctx.weight("cols", fork_resize_matrix(shp[3], ow).T.copy())
    y = ctx.op("MatMul", ah, ctx.x(0), hint="rows")
    ctx.top(0, "MatMul", [y, awt], (shp[0], shp[1], oh, ow))
