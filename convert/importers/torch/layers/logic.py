"""Comparisons, boolean logic, where and masked_fill (attention masks are built from them)."""
from __future__ import annotations

import numpy as np

from ....errors import UnsupportedAttributeError
from ..context import Param, TorchContext
from ..registry import register

_COMPARE = {"gt": "Greater", "lt": "Less", "eq": "Equal"}


def _pair(ctx: TorchContext, node) -> tuple[str, str]:
    """Both operands, a Python number typed like the tensor it is compared with."""
    a, b = node.args[:2]
    tensor = a if hasattr(a, "meta") else b
    dt = ctx.dtype(tensor)
    return ctx.v(a, dt), ctx.v(b, dt)


def _result(ctx: TorchContext, node, value: str) -> str:
    """A comparison's bool in the dtype torch gives it: in place (``x.gt_(0)``) the result
    keeps ``x``'s dtype (1.0/0.0), the functional op's is bool."""
    dt = ctx.dtype(node)
    return value if dt == "bool" else ctx.op("Cast", value, to=dt)


@register("aten.gt.Scalar", "aten.gt.Tensor", "aten.lt.Scalar", "aten.lt.Tensor", "aten.eq.Scalar",
          "aten.eq.Tensor", emits=("Greater", "Less", "Equal", "Cast"))
def import_compare(ctx: TorchContext, node) -> str:
    return _result(ctx, node, ctx.op(_COMPARE[str(node.target).split(".")[1]], *_pair(ctx, node)))


@register("aten.ge.Scalar", "aten.ge.Tensor", "aten.le.Scalar", "aten.le.Tensor",
          emits=("Greater", "Less", "Or", "Equal", "Cast"))
def import_compare_or_equal(ctx: TorchContext, node) -> str:
    """a >= b as (a > b) or (a == b): exact for NaN too, where not(a < b) is not."""
    a, b = _pair(ctx, node)
    strict = ctx.op("Greater" if str(node.target).split(".")[1] == "ge" else "Less", a, b)
    return _result(ctx, node, ctx.op("Or", strict, ctx.op("Equal", a, b)))


@register("aten.ne.Scalar", "aten.ne.Tensor", emits=("Not", "Equal", "Cast"))
def import_not_equal(ctx: TorchContext, node) -> str:
    return _result(ctx, node, ctx.op("Not", ctx.op("Equal", *_pair(ctx, node))))


@register("aten.logical_not.default", "aten.bitwise_not.default", emits=("Not",))
def import_logical_not(ctx: TorchContext, node) -> str:
    if ctx.dtype(node.args[0]) != "bool":
        raise UnsupportedAttributeError("dtype", ctx.dtype(node.args[0]), "bool (bitwise not of integers)")
    return ctx.op("Not", ctx.v(node.args[0]))


@register("aten.logical_and.default", "aten.logical_or.default", "aten.bitwise_and.Tensor",
          "aten.bitwise_or.Tensor", "aten.__and__.Tensor", "aten.__or__.Tensor",
          emits=("And", "Or"))
def import_logical_binary(ctx: TorchContext, node) -> str:
    a, b = node.args[:2]
    if ctx.dtype(a) != "bool" or ctx.dtype(b) != "bool":
        raise UnsupportedAttributeError("dtype", (ctx.dtype(a), ctx.dtype(b)), "bool operands")
    op = "And" if "and" in str(node.target) else "Or"
    return ctx.op(op, ctx.v(a), ctx.v(b))


@register("aten.where.self", emits=("Where",))
def import_where(ctx: TorchContext, node) -> str:
    cond, a, b = node.args[:3]
    dt = ctx.dtype(node)
    return ctx.op("Where", ctx.v(cond), ctx.v(a, dt), ctx.v(b, dt))


@register("aten.masked_fill.Scalar", "aten.masked_fill.Tensor", emits=("Where",))
def import_masked_fill(ctx: TorchContext, node) -> str:
    x, mask, value = node.args[:3]
    return ctx.op("Where", ctx.v(mask), ctx.v(value, ctx.dtype(x)), ctx.v(x))


@register("aten.triu.default", "aten.tril.default", emits=("Trilu",))
def import_triangle(ctx: TorchContext, node):
    """A mask built from constants (``generate_square_subsequent_mask`` at a fixed length) is
    folded here; a computed tensor becomes Trilu."""
    x, k = ctx.args(node)[:2]
    upper = "triu" in str(node.target)
    const = ctx.array(x)
    if const is not None and hasattr(x, "meta"):
        tri = np.triu(const, int(k)) if upper else np.tril(const, int(k))
        return Param(f"{ctx.layer_name}_const", tri)
    return ctx.op("Trilu", ctx.v(x), upper=int(upper), k=int(k))


@register("aten.isinf.default", "aten.isneginf.default", "aten.isposinf.default", emits=("IsInf",))
def import_isinf(ctx: TorchContext, node) -> str:
    x = node.args[0]
    if not ctx.dtype(x).startswith(("float", "bfloat")):
        raise UnsupportedAttributeError("dtype", ctx.dtype(x), "a floating-point input")
    name = str(node.target).split(".")[1]
    return ctx.op("IsInf", ctx.v(x), detect_negative=int(name != "isposinf"), detect_positive=int(name != "isneginf"))


@register("aten.one_hot.default", emits=("OneHot",))
def import_one_hot(ctx: TorchContext, node) -> str:
    """torch rejects negative and out-of-range indices, so the IR's readings of them (from
    the end, a row of zeros) agree with torch wherever torch gives a result."""
    x, n = (ctx.args(node) + [-1])[:2]
    if int(n) < 1:
        raise UnsupportedAttributeError("num_classes", n, "an explicit number of classes (-1 reads it from the data)")
    return ctx.op("OneHot", ctx.v(x), depth=int(n), values=[0.0, 1.0], dtype="int64", axis=-1)
