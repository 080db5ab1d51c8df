"""Indexing, scatter and scan ops as torch functions."""
from __future__ import annotations

import numpy as np

from ...ir.graph import numpy_dtype
from .context import TorchContext, attr, py, unsupported_attr
from .registry import register


def _nonneg(ctx: TorchContext, data: str, idx: str, axis: int) -> str:
    """torch indexes strictly: negative indices are shifted by the axis size."""
    return f"torch.where({idx} < 0, {idx} + {data}.shape[{axis}], {idx})"


@register("GatherElements")
def export_gather_elements(ctx: TorchContext, node):
    d, i = ctx.x(node.inputs[0]), ctx.x(node.inputs[1])
    axis = attr(node, "axis")
    ctx.assign(node.outputs[0], f"torch.gather({d}, {axis}, {_nonneg(ctx, d, i, axis)})")


@register("GatherND")
def export_gather_nd(ctx: TorchContext, node):
    batch_dims = attr(node, "batch_dims")
    d, i = ctx.x(node.inputs[0]), ctx.x(node.inputs[1])
    if batch_dims > 1:
        raise unsupported_attr("batch_dims", batch_dims, "batch_dims 0 or 1")
    if batch_dims == 1:  # entry b of indices addresses data[b]: index the batch axis by position
        rows = f"torch.arange({d}.shape[0], device={d}.device).reshape((-1,) + (1,) * ({i}.dim() - 2))"
        ctx.assign(node.outputs[0], f"{d}[({rows},) + tuple({i}.to(torch.int64).unbind(-1))]")
        return
    ctx.assign(node.outputs[0], f"{d}[tuple({i}.unbind(-1))]")


_REDUCE = {"add": "sum", "mul": "prod", "max": "amax", "min": "amin"}


@register("ScatterElements")
def export_scatter_elements(ctx: TorchContext, node):
    d, i, u = (ctx.x(v) for v in node.inputs)
    axis, red = attr(node, "axis"), attr(node, "reduction")
    idx = _nonneg(ctx, d, i, axis)
    if red == "none":
        ctx.assign(node.outputs[0], f"torch.scatter({d}, {axis}, {idx}, {u})")
    else:
        ctx.assign(node.outputs[0], f"torch.scatter_reduce({d}, {axis}, {idx}, {u}, {_REDUCE[red]!r})")


@register("ScatterND")
def export_scatter_nd(ctx: TorchContext, node):
    d, i, u = (ctx.x(v) for v in node.inputs)
    red = attr(node, "reduction")
    if red in ("mul", "max", "min"):
        return _scatter_nd_reduce(node, ctx, d, i, u, red)
    accumulate = ", accumulate=True" if red == "add" else ""
    ctx.assign(node.outputs[0], f"{d}.index_put(tuple({i}.unbind(-1)), {u}{accumulate})")


def _scatter_nd_reduce(node, ctx: TorchContext, d: str, i: str, u: str, red: str) -> None:
    """Reduce every update into its slot, repeated indices included: the index tuples as
    row numbers of data with its k indexed axes flattened, then scatter_reduce on rows."""
    shape = ctx.shape(node.inputs[1])
    if shape is None or not isinstance(shape[-1], int) or shape[-1] < 1:
        raise unsupported_attr("indices", node.inputs[1], "a static length of the index tuples")
    k = int(shape[-1])
    row = ctx.tmp("row")
    ctx.line(f"{row} = {i}[..., 0] % {d}.shape[0]")  # % makes negative indices count from the end
    for j in range(1, k):
        ctx.line(f"{row} = {row} * {d}.shape[{j}] + {i}[..., {j}] % {d}.shape[{j}]")
    rows, src = ctx.tmp("rows"), ctx.tmp("src")
    ctx.line(f"{rows} = {d}.flatten(0, {k - 1})")
    ctx.line(f"{src} = {u}.reshape((-1,) + tuple({rows}.shape[1:]))")
    index = f"{row}.reshape((-1,) + (1,) * ({rows}.dim() - 1)).expand_as({src})"
    ctx.assign(node.outputs[0], f"{rows}.scatter_reduce(0, {index}, {src}, {_REDUCE[red]!r}).reshape({d}.shape)")


@register("CumSum", "CumProd")
def export_cumsum(ctx: TorchContext, node):
    x = ctx.x(node.inputs[0])
    axis = attr(node, "axis")
    src = x
    if attr(node, "reverse"):
        src = ctx.tmp("flipped")
        ctx.line(f"{src} = torch.flip({x}, [{axis}])")
    fn = "cumsum" if node.op == "CumSum" else "cumprod"
    expr = f"torch.{fn}({src}, {axis}, dtype={src}.dtype)"  # torch widens integers by default
    if attr(node, "exclusive") and node.op == "CumSum":
        expr = f"({expr} - {src})"
    elif attr(node, "exclusive"):  # shift by one, starting from 1 (a division would fail on zeros)
        first = f"torch.ones_like({src}.narrow({axis}, 0, 1))"
        expr = f"torch.cat([{first}, {expr}.narrow({axis}, 0, {src}.shape[{axis}] - 1)], {axis})"
    if attr(node, "reverse"):
        expr = f"torch.flip({expr}, [{axis}])"
    ctx.assign(node.outputs[0], expr)


@register("Einsum")
def export_einsum(ctx: TorchContext, node):
    xs = ", ".join(ctx.x(v) for v in node.inputs)
    ctx.assign(node.outputs[0], f"torch.einsum({py(attr(node, 'equation'))}, {xs})")


@register("Trilu")
def export_trilu(ctx: TorchContext, node):
    fn = "torch.triu" if attr(node, "upper") else "torch.tril"
    ctx.assign(node.outputs[0], f"{fn}({ctx.x(node.inputs[0])}, {attr(node, 'k')})")


@register("Hardmax")
def export_hardmax(ctx: TorchContext, node):
    x = ctx.x(node.inputs[0])
    axis = attr(node, "axis")
    onehot = f"F.one_hot(torch.argmax({x}, {axis}), {x}.shape[{axis}]).movedim(-1, {axis})"
    ctx.assign(node.outputs[0], f"{onehot}.to({x}.dtype)")


@register("TensorScatter")
def export_tensor_scatter(ctx: TorchContext, node):
    """The cache with the update written at per-batch positions: one int64 position per
    update element (write_indices[b] + s along axis, modulo the cache length when circular)
    and ``torch.scatter``, which copies exactly."""
    p, u = ctx.x(node.inputs[0]), ctx.x(node.inputs[1])
    rank = ctx.rank(node.inputs[0])
    if rank is None:
        raise unsupported_attr("past_cache", node.inputs[0], "a known rank")
    axis = attr(node, "axis") % rank
    along = tuple(-1 if d == axis else 1 for d in range(rank))
    pos = ctx.tmp("pos")
    ctx.line(f"{pos} = torch.arange({u}.shape[{axis}], device={p}.device).reshape({along})")
    if len(node.inputs) > 2 and node.inputs[2]:
        per_batch = (-1,) + (1,) * (rank - 1)
        ctx.line(f"{pos} = {pos} + {ctx.x(node.inputs[2])}.to(torch.int64).reshape({per_batch})")
    if attr(node, "mode") == "circular":
        ctx.line(f"{pos} = {pos} % {p}.shape[{axis}]")
    ctx.assign(node.outputs[0], f"torch.scatter({p}, {axis}, {pos}.expand({u}.shape), {u})")


@register("OneHot")
def export_onehot(ctx: TorchContext, node):
    """F.one_hot over depth + 1 classes, the extra one taking every out-of-range index and
    then cut off (F.one_hot rejects them); [off, on] are picked by the 0/1 result exactly.
    Only ops nnconvert reads back from a .pt2 (where, masked_fill, clamp, permute)."""
    depth, axis = attr(node, "depth"), attr(node, "axis")
    values = ctx.buffer("onehot_values", np.asarray(attr(node, "values"), dtype=numpy_dtype(attr(node, "dtype"))))
    i, pos = ctx.x(node.inputs[0]), ctx.tmp("pos")
    ctx.line(f"{pos} = {i}.to(torch.int64)")
    ctx.line(f"{pos} = torch.where({pos} < 0, {pos} + {depth}, {pos})")
    ctx.line(f"{pos} = {pos}.masked_fill({pos} < 0, {depth}).clamp(max={depth})")  # out of range: class depth
    expr = f"{values}[F.one_hot({pos}, {depth + 1})[..., :{depth}]]"
    rank = ctx.rank(node.inputs[0])
    if rank is None and axis != -1:
        raise unsupported_attr("axis", axis, "indices of a known rank")
    if rank is not None and axis % (rank + 1) != rank:
        order = list(range(rank))
        order.insert(axis % (rank + 1), rank)
        expr += f".permute({py(tuple(order))})"
    ctx.assign(node.outputs[0], expr)
