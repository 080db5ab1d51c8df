"""Gathers whose indices are computed when the model runs, as LiteRT's GATHER / GATHER_ND.

LiteRT's gathers reject negative indices, which torch and ONNX count from the end; a
computed index tensor is therefore wrapped by one FLOOR_MOD with the indexed axes' sizes
(constants, or read off the data tensor with SHAPE when an axis is dynamic), which maps
[-n, n) onto [0, n) and leaves in-range indices as they are."""
from __future__ import annotations

import numpy as np

from .context import TFLiteContext, attr, unsupported_attr
from .registry import register
from .schema import TENSOR_TYPES


def wrapped_indices(ctx: TFLiteContext, value: str, data: int, positions: int | list[int], name: str) -> int:
    """Computed int indices ``value`` as int32 in [0, n): ``positions`` are the stored axes of
    tensor ``data`` the indices address (one, or a list matching the indices' last axis)."""
    dtype = ctx.dtype(value)
    if dtype not in ("int32", "int64"):
        raise unsupported_attr("indices", value, f"integer indices ({dtype} given)")
    idx = ctx.get(value)
    dims = ctx.dims(idx)
    if dtype != "int32":  # FLOOR_MOD needs both operands of one type
        types = ctx.S.TensorType
        cast = ctx.tensor(f"{name}/indices32", dims, "int32")
        ctx.op("CAST", [idx], [cast], "CastOptions", inDataType=getattr(types, TENSOR_TYPES[dtype]),
               outDataType=types.INT32)
        idx = cast
    sizes = stored_sizes(ctx, data, positions, name)
    out = ctx.tensor(f"{name}/indices_wrapped", dims, "int32")
    ctx.op("FLOOR_MOD", [idx, sizes], [out])
    return out


def stored_sizes(ctx: TFLiteContext, data: int, positions: int | list[int], name: str) -> int:
    """int32 sizes of ``data``'s stored axes at ``positions`` (a scalar for one position)."""
    stored = ctx.dims(data)
    want = positions if isinstance(positions, list) else [positions]
    if all(stored[p] >= 0 for p in want):
        sizes = [stored[p] for p in want]
        return ctx.ints(sizes if isinstance(positions, list) else sizes[0], f"{name}/sizes")
    shape = ctx.tensor(f"{name}/data_shape", [len(stored)], "int32")
    ctx.op("SHAPE", [data], [shape], "ShapeOptions", outType=ctx.S.TensorType.INT32)
    out = ctx.tensor(f"{name}/sizes", [len(want)] if isinstance(positions, list) else [], "int32")
    ctx.op("GATHER", [shape, ctx.ints(positions, f"{name}/size_axes")], [out], "GatherOptions", axis=0)
    return out


@register("GatherND")
def export_gather_nd(ctx: TFLiteContext, node) -> None:
    """GATHER_ND: the indices' last axis (k long) addresses the data's first k IR axes, so
    the data stays in its stored layout when those are its first k stored axes too, and is
    read in IR order otherwise; the remaining axes keep their stored order in the output."""
    x, idx = node.inputs
    if int(attr(node, "batch_dims") or 0):
        raise unsupported_attr("batch_dims", attr(node, "batch_dims"), "LiteRT's GATHER_ND has no batch axes")
    ishape = ctx.ir_shape(idx)
    k = ishape[-1] if ishape else None
    if not isinstance(k, int) or k < 1:
        raise unsupported_attr("indices", list(ishape), "indices whose last axis has a known length")
    perm = ctx.perm(x)
    if tuple(perm[:k]) != tuple(range(k)):
        perm = tuple(range(len(perm)))
    data = ctx.get(x, perm)
    w = ctx.weight(idx)
    name = node.name
    if w is None:
        indices = wrapped_indices(ctx, idx, data, list(range(k)), name)
    else:  # constant: wrapped here, once
        sizes = ctx.ir_shape(x)[:k]
        if (w < 0).any() and not all(isinstance(n, int) for n in sizes):
            raise unsupported_attr("indices", idx, "non-negative indices along a dynamic axis")
        w = np.asarray(w).astype(np.int64)
        indices = ctx.ints(np.where(w < 0, w + np.array([n if isinstance(n, int) else 0 for n in sizes]), w),
                           f"{name}/indices")
    q = len(ishape)
    out_perm = tuple(range(q - 1)) + tuple(p - k + q - 1 for p in perm[k:])
    ctx.op("GATHER_ND", [data, indices], [ctx.out(node.outputs[0], out_perm)])


@register("CumSum")
def export_cumsum(ctx: TFLiteContext, node) -> None:
    """CUMSUM along the stored axis of the IR axis (its axis input is a 0-d int32)."""
    x = node.inputs[0]
    rank = len(ctx.ir_shape(x))
    perm = ctx.perm(x)
    axis = perm.index(int(attr(node, "axis")) % rank)
    ctx.op("CUMSUM", [ctx.get(x, perm), ctx.ints(axis, f"{node.name}/axis")], [ctx.out(node.outputs[0], perm)],
           "CumsumOptions", exclusive=bool(attr(node, "exclusive")), reverse=bool(attr(node, "reverse")))


# ONE_HOT's value types (LiteRT has no half or double kernel for it)
_ONE_HOT_TYPES = ("float32", "int64", "int32", "int16", "int8", "uint8", "bool")


@register("OneHot")
def export_onehot(ctx: TFLiteContext, node) -> None:
    """ONE_HOT puts every index outside [0, depth) off, negative ones included: those the IR
    counts from the end are shifted by depth first (LESS, ADD, SELECT_V2)."""
    x, dtype = node.inputs[0], str(attr(node, "dtype"))
    itype = ctx.dtype(x)
    if itype not in ("int32", "int64"):
        raise unsupported_attr("indices", x, f"int32 or int64 indices ({itype} given)")
    if dtype not in _ONE_HOT_TYPES:
        raise unsupported_attr("dtype", dtype, f"LiteRT's ONE_HOT holds {', '.join(_ONE_HOT_TYPES)} values")
    depth, name = int(attr(node, "depth")), node.name
    idx = ctx.get(x)
    dims = ctx.dims(idx)
    negative = ctx.tensor(f"{name}/negative", dims, "bool")
    ctx.op("LESS", [idx, ctx.const(np.zeros((), itype), f"{name}/zero")], [negative])
    shifted, pos = ctx.tensor(f"{name}/shifted", dims, itype), ctx.tensor(f"{name}/indices", dims, itype)
    ctx.op("ADD", [idx, ctx.const(np.array(depth, itype), f"{name}/depth")], [shifted], "AddOptions")
    ctx.op("SELECT_V2", [negative, shifted, idx], [pos])
    off, on = (ctx.const(np.array(v, dtype), f"{name}/{k}") for k, v in zip(("off", "on"), attr(node, "values")))
    axis = int(attr(node, "axis")) % (len(dims) + 1)
    ctx.op("ONE_HOT", [pos, ctx.ints(depth, f"{name}/depth32"), on, off], [ctx.out(node.outputs[0], None, dtype)],
           "OneHotOptions", axis=axis)
