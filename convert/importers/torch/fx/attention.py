"""torch.fx front end: F.scaled_dot_product_attention and the ops attention masks and positions are built with."""
from __future__ import annotations

from .front import register

_SDPA_ARGS = (("attn_mask", None), ("dropout_p", 0.0), ("is_causal", False))


def _aten(name: str, overload: str = "default"):
    import torch

    return getattr(getattr(torch.ops.aten, name), overload)


@register("fn:torch._C._nn.scaled_dot_product_attention", "fn:torch.nn.functional.scaled_dot_product_attention")
def import_sdpa(ctx, node):
    q, k, v = (ctx.a(node.args[i] if len(node.args) > i else node.kwargs[n]) for i, n in
               enumerate(("query", "key", "value")))
    rest = [ctx.a(node.args[3 + i] if len(node.args) > 3 + i else node.kwargs.get(n, d))
            for i, (n, d) in enumerate(_SDPA_ARGS)]
    for name, value in zip(("dropout_p", "is_causal"), rest[1:]):
        ctx.static(value, name)
    kwargs = {k: node.kwargs[k] for k in ("scale", "enable_gqa") if node.kwargs.get(k) is not None}
    n = ctx.emit(_aten("scaled_dot_product_attention"), (q, k, v, *rest))
    n.kwargs = kwargs
    return n


_COMPARE = {"gt": "gt", "lt": "lt", "ge": "ge", "le": "le", "eq": "eq", "ne": "ne", "greater": "gt", "less": "lt",
            "greater_equal": "ge", "less_equal": "le", "not_equal": "ne"}


@register(*[f"fn:operator.{k}" for k in ("gt", "lt", "ge", "le", "eq", "ne")],
          *[f"fn:torch.{k}" for k in _COMPARE], *[f"method:{k}" for k in _COMPARE],
          *[f"method:__{k}__" for k in ("gt", "lt", "ge", "le", "eq", "ne")])
def import_compare(ctx, node):
    name = str(node.target if node.op == "call_method" else node.target.__name__).strip("_")
    a, b = ctx.a(node.args[0]), ctx.a(node.args[1] if len(node.args) > 1 else node.kwargs["other"])
    if not hasattr(b, "op"):
        ctx.static(b, "operand")
    if not hasattr(a, "op"):
        ctx.fail("operand", a, "a tensor on the left")
    return ctx.emit(_aten(_COMPARE[name], "Tensor" if hasattr(b, "op") else "Scalar"), (a, b))


@register("method:masked_fill", "fn:torch.masked_fill")
def import_masked_fill(ctx, node):
    x, mask = ctx.a(node.args[0]), ctx.a(node.args[1] if len(node.args) > 1 else node.kwargs["mask"])
    value = ctx.a(node.args[2] if len(node.args) > 2 else node.kwargs["value"])
    if not hasattr(value, "op"):
        ctx.static(value, "value")
    return ctx.emit(_aten("masked_fill", "Tensor" if hasattr(value, "op") else "Scalar"), (x, mask, value))


@register("fn:torch.where", "method:where")
def import_where(ctx, node):
    if len(node.args) + len(node.kwargs) < 3:
        ctx.fail("arguments", "condition only", "torch.where(cond, a, b)")
    cond, a, b = (ctx.a(x) for x in node.args[:3])
    return ctx.emit(_aten("where", "self"), (cond, a, b))


@register("fn:torch.logical_not", "method:logical_not", "fn:operator.invert", "method:__invert__")
def import_not(ctx, node):
    return ctx.emit(_aten("logical_not"), (ctx.a(node.args[0]),))


@register("fn:torch.logical_and", "method:logical_and", "fn:operator.and_", "method:__and__",
          "fn:torch.logical_or", "method:logical_or", "fn:operator.or_", "method:__or__")
def import_logic(ctx, node):
    name = str(node.target if node.op == "call_method" else node.target.__name__)
    op = "logical_and" if "and" in name else "logical_or"
    return ctx.emit(_aten(op), (ctx.a(node.args[0]), ctx.a(node.args[1])))


@register("fn:torch.cumsum", "method:cumsum")
def import_cumsum(ctx, node):
    dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
    if node.kwargs.get("dtype") is not None:
        ctx.fail("dtype", node.kwargs["dtype"], "the input's dtype")
    return ctx.emit(_aten("cumsum"), (ctx.a(node.args[0]), int(ctx.static(dim, "dim"))))


@register("fn:torch.arange")
def import_arange(ctx, node):
    bounds = [ctx.static(ctx.a(a), "bounds") for a in node.args]
    for k in ("start", "end", "step"):
        if k in node.kwargs:
            ctx.fail(k, node.kwargs[k], "positional bounds")
    overload = {1: "default", 2: "start", 3: "start_step"}.get(len(bounds))
    if overload is None:
        ctx.fail("arguments", bounds, "torch.arange(end), (start, end) or (start, end, step)")
    return ctx.emit(_aten("arange", overload), tuple(bounds))


@register("fn:torch._C._nn.one_hot", "fn:torch.nn.functional.one_hot")
def import_one_hot(ctx, node):
    n = node.args[1] if len(node.args) > 1 else node.kwargs.get("num_classes", -1)
    return ctx.emit(_aten("one_hot"), (ctx.a(node.args[0]), int(ctx.static(n, "num_classes"))))
