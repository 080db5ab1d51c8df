"""torch.fx front end: F.scaled_dot_product_attention and the ops attention masks and positions are built with."""
from __future__ import annotations

from .fx_front import register

_SDPA_ARGS = (("attn_mask", None), ("dropout_p", 0.0), ("is_causal", False))


def _aten(name: str, overload: str = "default"):
    import torch

    return getattr(getattr(torch.ops.aten, name), overload)


@register("fn:torch._C._nn.scaled_dot_product_attention", "fn:torch.nn.functional.scaled_dot_product_attention")
def import_sdpa(lx, node):
    q, k, v = (lx.a(node.args[i] if len(node.args) > i else node.kwargs[n]) for i, n in
               enumerate(("query", "key", "value")))
    rest = [lx.a(node.args[3 + i] if len(node.args) > 3 + i else node.kwargs.get(n, d))
            for i, (n, d) in enumerate(_SDPA_ARGS)]
    for name, value in zip(("dropout_p", "is_causal"), rest[1:]):
        lx.static(value, name)
    kwargs = {k: node.kwargs[k] for k in ("scale", "enable_gqa") if node.kwargs.get(k) is not None}
    n = lx.emit(_aten("scaled_dot_product_attention"), (q, k, v, *rest))
    n.kwargs = kwargs
    return n


_COMPARE = {"gt": "gt", "lt": "lt", "ge": "ge", "le": "le", "eq": "eq", "ne": "ne", "greater": "gt", "less": "lt",
            "greater_equal": "ge", "less_equal": "le", "not_equal": "ne"}


@register(*[f"fn:operator.{k}" for k in ("gt", "lt", "ge", "le", "eq", "ne")],
          *[f"fn:torch.{k}" for k in _COMPARE], *[f"method:{k}" for k in _COMPARE],
          *[f"method:__{k}__" for k in ("gt", "lt", "ge", "le", "eq", "ne")])
def import_compare(lx, node):
    name = str(node.target if node.op == "call_method" else node.target.__name__).strip("_")
    a, b = lx.a(node.args[0]), lx.a(node.args[1] if len(node.args) > 1 else node.kwargs["other"])
    if not hasattr(b, "op"):
        lx.static(b, "operand")
    if not hasattr(a, "op"):
        lx.fail("operand", a, "a tensor on the left")
    return lx.emit(_aten(_COMPARE[name], "Tensor" if hasattr(b, "op") else "Scalar"), (a, b))


@register("method:masked_fill", "fn:torch.masked_fill")
def import_masked_fill(lx, node):
    x, mask = lx.a(node.args[0]), lx.a(node.args[1] if len(node.args) > 1 else node.kwargs["mask"])
    value = lx.a(node.args[2] if len(node.args) > 2 else node.kwargs["value"])
    if not hasattr(value, "op"):
        lx.static(value, "value")
    return lx.emit(_aten("masked_fill", "Tensor" if hasattr(value, "op") else "Scalar"), (x, mask, value))


@register("fn:torch.where", "method:where")
def import_where(lx, node):
    if len(node.args) + len(node.kwargs) < 3:
        lx.fail("arguments", "condition only", "torch.where(cond, a, b)")
    cond, a, b = (lx.a(x) for x in node.args[:3])
    return lx.emit(_aten("where", "self"), (cond, a, b))


@register("fn:torch.logical_not", "method:logical_not", "fn:operator.invert", "method:__invert__")
def import_not(lx, node):
    return lx.emit(_aten("logical_not"), (lx.a(node.args[0]),))


@register("fn:torch.logical_and", "method:logical_and", "fn:operator.and_", "method:__and__",
          "fn:torch.logical_or", "method:logical_or", "fn:operator.or_", "method:__or__")
def import_logic(lx, node):
    name = str(node.target if node.op == "call_method" else node.target.__name__)
    op = "logical_and" if "and" in name else "logical_or"
    return lx.emit(_aten(op), (lx.a(node.args[0]), lx.a(node.args[1])))


@register("fn:torch.cumsum", "method:cumsum")
def import_cumsum(lx, node):
    dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
    if node.kwargs.get("dtype") is not None:
        lx.fail("dtype", node.kwargs["dtype"], "the input's dtype")
    return lx.emit(_aten("cumsum"), (lx.a(node.args[0]), int(lx.static(dim, "dim"))))


@register("fn:torch.arange")
def import_arange(lx, node):
    bounds = [lx.static(lx.a(a), "bounds") for a in node.args]
    for k in ("start", "end", "step"):
        if k in node.kwargs:
            lx.fail(k, node.kwargs[k], "positional bounds")
    overload = {1: "default", 2: "start", 3: "start_step"}.get(len(bounds))
    if overload is None:
        lx.fail("arguments", bounds, "torch.arange(end), (start, end) or (start, end, step)")
    return lx.emit(_aten("arange", overload), tuple(bounds))
