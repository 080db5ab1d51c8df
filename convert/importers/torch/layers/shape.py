"""Shape and data-movement ops. Target shapes come from the traced output shape, with
the symbolic (batch) dimension written as 0 (copy) or -1 (infer) so it stays dynamic."""
from __future__ import annotations

import numpy as np

from ....errors import UnsupportedAttributeError
from ..context import TorchContext
from ..registry import register

INT64_MAX = 2**63 - 1


def reshape_target(in_shape: tuple, out_shape: tuple) -> list[int]:
    """IR Reshape shape: static dims as is, a symbolic dim equal to the input's at the
    same index as 0, at most one other symbolic dim as -1."""
    target, infer = [], 0
    for i, d in enumerate(out_shape):
        if isinstance(d, int):
            if d == 0:
                raise UnsupportedAttributeError("shape", out_shape, "zero-sized dimension")
            target.append(d)
        elif i < len(in_shape) and in_shape[i] == d:
            target.append(0)
        else:
            infer += 1
            target.append(-1)
    if infer > 1:
        raise UnsupportedAttributeError("shape", out_shape, "more than one symbolic dimension to infer")
    return target


@register("aten.view.default", "aten.reshape.default", "aten._unsafe_view.default", "aten.flatten.using_ints",
          "aten.unflatten.int", emits=("Reshape",))
def import_reshape(ctx: TorchContext, node) -> str:
    x = node.args[0]
    in_shape, out_shape = ctx.shape(x), ctx.shape(node)
    try:
        return ctx.op("Reshape", ctx.v(x), shape=reshape_target(in_shape, out_shape))
    except UnsupportedAttributeError:
        like = runtime_sizes(ctx, in_shape, out_shape)
        if like is None:
            raise
    name, axes = like
    shape = [-1 if a >= 0 else t for a, t in zip(axes, reshape_target(in_shape, _masked(out_shape, axes)))]
    return ctx.op("Reshape", ctx.v(x), name, shape=shape, like_axes=axes)


def _masked(shape: tuple, axes: list[int]) -> tuple:
    """The shape with the dimensions read at run time written as 1 (static)."""
    return tuple(1 if a >= 0 else d for d, a in zip(shape, axes))


def size_source(ctx: TorchContext, dim: str) -> tuple[str, int] | None:
    """A graph input that has the symbolic size ``dim``, and its axis."""
    for v in ctx.b.graph.inputs:
        if v.shape and dim in v.shape:
            return v.name, list(v.shape).index(dim)
    return None


def runtime_sizes(ctx: TorchContext, in_shape: tuple, out_shape: tuple) -> tuple[str, list[int]] | None:
    """For a Reshape with several symbolic sizes (``view(b, heads, s, d)``): a graph input
    whose shape holds them and, per output axis, the axis to read (-1: static, a 0 copy
    of the input's same axis, or the one size left to infer). None when more than one
    size would still be unknown or the sizes come from different inputs."""
    sources = {}
    for i, d in enumerate(out_shape):
        if isinstance(d, str) and not (i < len(in_shape) and in_shape[i] == d):
            src = size_source(ctx, d)
            if src is not None:
                sources[i] = src
    names = {n for n, _ in sources.values()}
    if not names:
        return None
    name = max(names, key=lambda n: sum(s[0] == n for s in sources.values()))
    axes = [sources[i][1] if i in sources and sources[i][0] == name else -1 for i in range(len(out_shape))]
    try:
        reshape_target(in_shape, _masked(out_shape, axes))
    except UnsupportedAttributeError:
        return None
    return name, axes


@register("aten.permute.default", emits=("Transpose",))
def import_permute(ctx: TorchContext, node) -> str:
    x, dims = ctx.args(node)
    rank = ctx.rank(x)
    return ctx.op("Transpose", ctx.v(x), perm=[int(d) % rank for d in dims])


@register("aten.transpose.int", emits=("Transpose",))
def import_transpose(ctx: TorchContext, node) -> str:
    x, d0, d1 = ctx.args(node)
    rank = ctx.rank(x)
    perm = list(range(rank))
    perm[d0 % rank], perm[d1 % rank] = perm[d1 % rank], perm[d0 % rank]
    return ctx.op("Transpose", ctx.v(x), perm=perm)


@register("aten.t.default", "aten.numpy_T.default", emits=("Transpose",))
def import_t(ctx: TorchContext, node) -> str:
    x = node.args[0]
    if ctx.rank(x) < 2:
        return ctx.env[x]
    return ctx.op("Transpose", ctx.v(x), perm=list(range(ctx.rank(x)))[::-1])


@register("aten.squeeze.dim", "aten.squeeze.dims", "aten.squeeze.default", emits=("Squeeze",))
def import_squeeze(ctx: TorchContext, node) -> str:
    """torch ignores non-1 axes; ONNX rejects them, so only size-1 axes are listed."""
    x = node.args[0]
    shape = ctx.shape(x)
    dims = node.args[1] if len(node.args) > 1 else range(len(shape))
    dims = [dims] if isinstance(dims, int) else list(dims)
    axes = sorted({int(d) % len(shape) for d in dims if shape[int(d) % len(shape)] == 1})
    if not axes:
        return ctx.env[x] if hasattr(x, "meta") else ctx.v(x)
    return ctx.op("Squeeze", ctx.v(x), axes=axes)


@register("aten.unsqueeze.default", emits=("Unsqueeze",))
def import_unsqueeze(ctx: TorchContext, node) -> str:
    x, dim = ctx.args(node)
    return ctx.op("Unsqueeze", ctx.v(x), axes=[int(dim) % (ctx.rank(x) + 1)])


@register("aten.cat.default", "aten.concat.default", emits=("Concat",))
def import_cat(ctx: TorchContext, node) -> str:
    tensors, dim = ctx.args(node)
    rank = ctx.rank(tensors[0])
    return ctx.op("Concat", *[ctx.v(t) for t in tensors], axis=int(dim) % rank)


@register("aten.stack.default", emits=("Concat", "Unsqueeze"))
def import_stack(ctx: TorchContext, node) -> str:
    tensors, dim = ctx.args(node)
    axis = int(dim) % (ctx.rank(tensors[0]) + 1)
    return ctx.op("Concat", *[ctx.op("Unsqueeze", ctx.v(t), axes=[axis]) for t in tensors], axis=axis)


def _split(ctx: TorchContext, node, dim) -> list[str]:
    x = node.args[0]
    rank = ctx.rank(x)
    sizes = [int(t.shape[int(dim) % rank]) for t in ctx.meta(node)]
    return ctx.node_out("Split", [ctx.v(x)], {"axis": int(dim) % rank, "split": sizes}, outputs=len(sizes))


@register("aten.split.Tensor", "aten.split_with_sizes.default", "aten.chunk.default", "aten.split.sizes",
          emits=("Split",))
def import_split(ctx: TorchContext, node) -> list[str]:
    return _split(ctx, node, ctx.args(node)[2])


@register("aten.unbind.int", emits=("Split", "Squeeze"))
def import_unbind(ctx: TorchContext, node) -> list[str]:
    x, dim = ctx.args(node)
    axis = int(dim) % ctx.rank(x)
    n = len(ctx.meta(node))
    parts = ctx.node_out("Split", [ctx.v(x)], {"axis": axis, "split": [1] * n}, outputs=n)
    return [ctx.op("Squeeze", p, axes=[axis]) for p in parts]


@register("aten.slice.Tensor", emits=("Slice",))
def import_slice(ctx: TorchContext, node) -> str:
    x, dim, start, end, step = ctx.args(node)
    rank = ctx.rank(x)
    size = ctx.shape(x)[int(dim) % rank]
    start = 0 if start is None else _bound(ctx, start, size, "start")
    end = INT64_MAX if end is None else _bound(ctx, end, size, "end")
    end = min(end, INT64_MAX)
    if start == 0 and end == INT64_MAX and (step or 1) == 1:
        return ctx.env[x] if hasattr(x, "meta") else ctx.v(x)  # x[:] is a no-op
    return ctx.op("Slice", ctx.v(x), starts=[start], ends=[end], axes=[int(dim) % rank], steps=[int(step or 1)])


def _bound(ctx: TorchContext, v, size, what: str) -> int:
    """A slice bound as an int: a symbolic one only where it is the whole axis (``x[:, :t]``
    with ``t = x.size(1)``: to the end); one computed from a size (``t // 2``) would need a
    run-time bound, which Slice's attributes cannot hold: refused, never sliced to the end."""
    d = ctx.dim(ctx.meta(v)) if hasattr(v, "meta") else v
    if isinstance(d, int):
        return d
    if what == "end" and d == size:
        return INT64_MAX
    raise UnsupportedAttributeError(what, str(d), f"a static slice bound, or the whole axis ({size})")


@register("aten.select.int", emits=("Gather", "Squeeze"))
def import_select(ctx: TorchContext, node) -> str:
    x, dim, index = ctx.args(node)
    axis = int(dim) % ctx.rank(x)
    size = ctx.shape(x)[axis]
    index = int(index) % size if isinstance(size, int) and size > 0 else int(index)  # x[-1]: not every target wraps
    # A 1-element index then Squeeze: weights are stored at least 1-D.
    idx = ctx.b.weight(ctx.layer_name + "_index", np.asarray([index], np.int64))
    return ctx.op("Squeeze", ctx.op("Gather", ctx.v(x), idx, axis=axis), axes=[axis])


@register("aten.index_select.default", emits=("Gather",))
def import_index_select(ctx: TorchContext, node) -> str:
    """``torch.index_select`` (what the torch exporter writes for Gather)."""
    x, dim, index = ctx.args(node)[:3]
    return ctx.op("Gather", ctx.v(x), ctx.v(index), axis=int(dim) % ctx.rank(x))


@register("aten.expand.default", emits=("Expand",))
def import_expand(ctx: TorchContext, node) -> str:
    x = node.args[0]
    shape = ctx.shape(node)
    in_shape = (None,) * (len(shape) - ctx.rank(x)) + ctx.shape(x)
    grow = []
    for i, d in enumerate(shape):
        if isinstance(d, str):  # ONNX Expand keeps the input's size where the target says 1
            if in_shape[i] != d:
                grow.append(i)
            shape = shape[:i] + (1,) + shape[i + 1:]
    y = ctx.op("Expand", ctx.v(x), shape=list(shape)) if any(d != 1 for d in shape) or not grow else ctx.v(x)
    for i in grow:
        y = _broadcast_to_input_dim(ctx, y, ctx.shape(node)[i], i, len(shape), ctx.dtype(x))
    return y


def _broadcast_to_input_dim(ctx: TorchContext, y: str, dim: str, axis: int, rank: int, dtype: str) -> str:
    """Grow ``axis`` of ``y`` (size 1) to the symbolic size ``dim`` of a graph input
    (``cls_token.expand(x.shape[0], -1, -1)``): Where(True, y, s) broadcasts y exactly,
    where s is a one-element-per-axis slice of that input, sized ``dim`` along ``axis``."""
    src = next(((v, v.shape.index(dim)) for v in ctx.b.graph.inputs if v.shape and dim in v.shape), None)
    if src is None:
        raise UnsupportedAttributeError("size", dim, "expanding to a symbolic size no input has")
    v, ax = src
    others = [a for a in range(len(v.shape)) if a != ax]
    s = ctx.op("Slice", v.name, starts=[0] * len(others), ends=[1] * len(others), axes=others) if others else v.name
    s = ctx.op("Reshape", s, shape=[-1 if a == axis else 1 for a in range(rank)])
    if v.dtype != dtype:
        s = ctx.op("Cast", s, to=dtype)
    true = ctx.b.weight(f"{ctx.layer_name}_true", np.ones([1] * rank, dtype=bool))
    return ctx.op("Where", true, y, s)


@register("aten.repeat.default", emits=("Tile",))
def import_repeat(ctx: TorchContext, node) -> str:
    x, repeats = ctx.args(node)
    if len(repeats) != ctx.rank(x):
        raise UnsupportedAttributeError("repeats", list(repeats), "repeat must list every axis")
    return ctx.op("Tile", ctx.v(x), repeats=[int(r) for r in repeats])


@register("aten.repeat_interleave.self_int", emits=("Reshape", "Unsqueeze", "Expand"))
def import_repeat_interleave(ctx: TorchContext, node) -> str:
    """Each element ``repeats`` times in a row along ``dim`` (the flattened tensor without
    one): a size-1 axis after ``dim``, broadcast to ``repeats``, merged into ``dim``."""
    args = ctx.args(node)
    x, repeats = args[0], args[1]
    dim = args[2] if len(args) > 2 else None
    if not isinstance(repeats, int):
        raise UnsupportedAttributeError("repeats", repeats, "a constant number of repeats")
    y, shape = ctx.v(x), tuple(ctx.shape(x))
    if dim is None:
        y, shape, dim = ctx.op("Reshape", y, shape=[-1]), (-1,), 0
    axis = int(dim) % len(shape)
    y = ctx.op("Unsqueeze", y, axes=[axis + 1])
    y = ctx.op("Expand", y, shape=[int(repeats) if i == axis + 1 else 1 for i in range(len(shape) + 1)])
    # 0 keeps the (possibly symbolic) sizes before the axis, -1 infers the merged one
    return ctx.op("Reshape", y, shape=[0] * axis + [-1] + [d if isinstance(d, int) and d > 0 else
                                                             _unknown(d) for d in shape[axis + 1:]])


def _unknown(d):
    raise UnsupportedAttributeError("shape", d, "static sizes after the repeated axis")


@register("aten.swapaxes.default", "aten.swapdims.default", emits=("Transpose",))
def import_swapaxes(ctx: TorchContext, node) -> str:
    return import_transpose(ctx, node)


@register("aten.roll.default", emits=("Slice", "Concat"))
def import_roll(ctx: TorchContext, node) -> str:
    """torch.roll along static axes: two slices concatenated in swapped order."""
    x, shifts, dims = ctx.args(node)
    if not dims:
        raise UnsupportedAttributeError("dims", dims, "roll along named axes (not the flattened tensor)")
    shape, rank = ctx.shape(x), ctx.rank(x)
    y = ctx.v(x)
    for shift, dim in zip(list(shifts), list(dims)):
        axis = int(dim) % rank
        size = shape[axis]
        if not isinstance(size, int):
            raise UnsupportedAttributeError("dims", list(dims), "a static size along the rolled axis")
        k = int(shift) % size
        if k == 0:
            continue
        tail = ctx.op("Slice", y, starts=[size - k], ends=[size], axes=[axis])
        head = ctx.op("Slice", y, starts=[0], ends=[size - k], axes=[axis])
        y = ctx.op("Concat", tail, head, axis=axis)
    return y
