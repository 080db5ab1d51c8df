"""Indexing, scatter and scan ops as torch functions."""
from __future__ import annotations

from .context import TorchContext, attr, py
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
    if attr(node, "batch_dims"):
        from .context import unsupported_attr

        raise unsupported_attr("batch_dims", attr(node, "batch_dims"), "batch_dims > 0")
    d, i = ctx.x(node.inputs[0]), ctx.x(node.inputs[1])
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
    if red in ("max", "min"):
        from .context import unsupported_attr

        raise unsupported_attr("reduction", red, "ScatterND reduces with none, add or mul only")
    accumulate = ", accumulate=True" if red == "add" else ""
    if red == "mul":
        ones = f"torch.ones_like({d}).index_put(tuple({i}.unbind(-1)), {u})"
        ctx.assign(node.outputs[0], f"{d} * {ones}")
    else:
        ctx.assign(node.outputs[0], f"{d}.index_put(tuple({i}.unbind(-1)), {u}{accumulate})")


@register("CumSum")
def export_cumsum(ctx: TorchContext, node):
    x = ctx.x(node.inputs[0])
    axis = attr(node, "axis")
    src = f"torch.flip({x}, [{axis}])" if attr(node, "reverse") else x
    expr = f"torch.cumsum({src}, {axis})"
    if attr(node, "exclusive"):
        expr = f"({expr} - {src})"
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
