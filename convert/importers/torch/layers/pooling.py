"""Pooling: max, average and adaptive pooling."""
from __future__ import annotations

from ....errors import UnsupportedAttributeError
from ..context import Missing, TorchContext
from ..registry import register
from .conv import ints


def _pool_common(ctx: TorchContext, x, kernel, stride, padding):
    nsp = ctx.rank(x) - 2
    k = ints(kernel, nsp)
    s = ints(stride, nsp) if stride else k
    p = ints(padding, nsp)
    return k, s, p + p


@register("aten.max_pool1d.default", "aten.max_pool2d.default", "aten.max_pool3d.default", emits=("MaxPool",))
def import_max_pool(ctx: TorchContext, node) -> str:
    x, kernel, stride, padding, dilation, ceil_mode = ctx.args(node)
    k, s, pads = _pool_common(ctx, x, kernel, stride, padding)
    return ctx.op("MaxPool", ctx.v(x), kernel_shape=k, strides=s, pads=pads, dilations=ints(dilation, len(k)),
                  ceil_mode=int(bool(ceil_mode)))


@register("aten.max_pool2d_with_indices.default", "aten.max_pool3d_with_indices.default", emits=("MaxPool",))
def import_max_pool_with_indices(ctx: TorchContext, node) -> list:
    return [import_max_pool(ctx, node), Missing("indices")]


@register("aten.avg_pool1d.default", "aten.avg_pool2d.default", "aten.avg_pool3d.default", emits=("AveragePool",))
def import_avg_pool(ctx: TorchContext, node) -> str:
    a = ctx.args(node)
    x, kernel, stride, padding, ceil_mode, count_include_pad = a[:6]
    if len(a) > 6 and a[6] is not None:
        raise UnsupportedAttributeError("divisor_override", a[6])
    k, s, pads = _pool_common(ctx, x, kernel, stride, padding)
    return ctx.op("AveragePool", ctx.v(x), kernel_shape=k, strides=s, pads=pads, ceil_mode=int(bool(ceil_mode)),
                  count_include_pad=int(bool(count_include_pad)) if any(pads) else 0)


def _adaptive(ctx: TorchContext, node, op: str, global_op: str) -> str:
    x, out_size = ctx.args(node)[:2]
    spatial = ctx.shape(x)[2:]
    out = ints(out_size, len(spatial))
    if all(o == 1 for o in out):
        return ctx.op(global_op, ctx.v(x))
    if any(not isinstance(i, int) or i % o for i, o in zip(spatial, out)):
        raise UnsupportedAttributeError("output_size", out, f"input size {list(spatial)} must be a multiple")
    k = [i // o for i, o in zip(spatial, out)]
    return ctx.op(op, ctx.v(x), kernel_shape=k, strides=k)


@register("aten.adaptive_avg_pool1d.default", "aten.adaptive_avg_pool2d.default", "aten.adaptive_avg_pool3d.default",
          "aten._adaptive_avg_pool2d.default", emits=("AveragePool", "GlobalAveragePool"))
def import_adaptive_avg_pool(ctx: TorchContext, node) -> str:
    return _adaptive(ctx, node, "AveragePool", "GlobalAveragePool")


@register("aten.adaptive_max_pool1d.default", "aten.adaptive_max_pool2d.default", "aten.adaptive_max_pool3d.default",
          emits=("GlobalMaxPool", "MaxPool"))
def import_adaptive_max_pool(ctx: TorchContext, node) -> list:
    return [_adaptive(ctx, node, "MaxPool", "GlobalMaxPool"), Missing("indices")]
