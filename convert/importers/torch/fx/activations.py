"""torch.fx front end: activation modules and their functional / method / torch.* forms."""
from __future__ import annotations

from .front import register

# Unary ATen ops without parameters, by the name torch.*, F.* and Tensor methods use.
UNARY = ["relu", "sigmoid", "tanh", "hardswish", "mish", "abs", "exp", "log", "sqrt", "neg", "reciprocal", "erf",
         "floor", "ceil", "sin", "cos", "selu", "silu", "rsqrt"]
_MODULES = {"ReLU": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Hardswish": "hardswish", "Mish": "mish",
            "SELU": "selu", "SiLU": "silu"}


def _aten(name: str):
    import torch

    return getattr(torch.ops.aten, name).default


def _x(lx, node):
    return lx.a(node.args[0] if node.args else node.kwargs.get("input", node.kwargs.get("self")))


def _opt(node, i: int, name: str, default):
    """Argument ``i`` (or keyword ``name``) of a call, else ``default``."""
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(name, default)


@register(*[f"module:{m}" for m in _MODULES])
def import_unary_module(ctx, node):
    mod = ctx.module(node)
    return ctx.emit(_aten(_MODULES[type(mod).__name__]), (_x(ctx, node),))


@register(*[f"fn:torch.{n}" for n in UNARY], *[f"method:{n}" for n in UNARY], *[f"method:{n}_" for n in UNARY],
          *[f"fn:torch.nn.functional.{n}" for n in ("relu", "sigmoid", "tanh", "hardswish", "mish", "selu", "silu")],
          "fn:torch._C._nn.hardswish", "fn:torch._C._nn.silu", "fn:torch._C._nn.mish", "fn:torch.special.erf")
def import_unary_function(ctx, node):
    name = str(node.target if node.op == "call_method" else node.target.__name__).rstrip("_")
    return ctx.emit(_aten(name), (_x(ctx, node),))


@register("module:LeakyReLU")
def import_leaky_relu_module(ctx, node):
    mod = ctx.module(node)
    return ctx.emit(_aten("leaky_relu"), (_x(ctx, node), float(mod.negative_slope)))


@register("fn:torch.nn.functional.leaky_relu", "fn:torch._C._nn.leaky_relu")
def import_leaky_relu(ctx, node):
    return ctx.emit(_aten("leaky_relu"), (_x(ctx, node), float(ctx.static(_opt(node, 1, "negative_slope", 0.01), "slope"))))


@register("module:PReLU")
def import_prelu(ctx, node):
    mod = ctx.module(node)
    return ctx.emit(_aten("prelu"), (_x(ctx, node), ctx.param(f"{node.target}.weight", mod.weight)))


@register("module:ELU")
def import_elu_module(ctx, node):
    mod = ctx.module(node)
    return ctx.emit(_aten("elu"), (_x(ctx, node), float(mod.alpha), 1.0, 1.0))


@register("fn:torch.nn.functional.elu")
def import_elu(ctx, node):
    return ctx.emit(_aten("elu"), (_x(ctx, node), float(ctx.static(_opt(node, 1, "alpha", 1.0), "alpha")), 1.0, 1.0))


@register("module:CELU")
def import_celu_module(ctx, node):
    mod = ctx.module(node)
    return ctx.emit(_aten("celu"), (_x(ctx, node), float(mod.alpha)))


@register("module:GELU")
def import_gelu_module(ctx, node):
    mod = ctx.module(node)
    return ctx.emit(_aten("gelu"), (_x(ctx, node), mod.approximate))


@register("fn:torch.nn.functional.gelu", "fn:torch._C._nn.gelu")
def import_gelu(ctx, node):
    return ctx.emit(_aten("gelu"), (_x(ctx, node), ctx.static(node.kwargs.get("approximate", "none"), "approximate")))


@register("module:Hardsigmoid")
def import_hardsigmoid_module(ctx, node):
    return ctx.emit(_aten("hardsigmoid"), (_x(ctx, node),))


@register("fn:torch.nn.functional.hardsigmoid")
def import_hardsigmoid(ctx, node):
    return ctx.emit(_aten("hardsigmoid"), (_x(ctx, node),))


@register("module:Hardtanh", "module:ReLU6")
def import_hardtanh_module(ctx, node):
    mod = ctx.module(node)
    return ctx.emit(_aten("hardtanh"), (_x(ctx, node), float(mod.min_val), float(mod.max_val)))


@register("fn:torch.nn.functional.relu6", "fn:torch._C._nn.relu6")
def import_relu6(ctx, node):
    return ctx.emit(_aten("hardtanh"), (_x(ctx, node), 0.0, 6.0))


@register("fn:torch.nn.functional.hardtanh")
def import_hardtanh(ctx, node):
    lo, hi = _opt(node, 1, "min_val", -1.0), _opt(node, 2, "max_val", 1.0)
    return ctx.emit(_aten("hardtanh"), (_x(ctx, node), float(ctx.static(lo, "min_val")), float(ctx.static(hi, "max_val"))))


@register("module:Softplus")
def import_softplus_module(ctx, node):
    mod = ctx.module(node)
    return ctx.emit(_aten("softplus"), (_x(ctx, node), float(mod.beta), float(mod.threshold)))


@register("fn:torch.nn.functional.softplus", "fn:torch._C._nn.softplus")
def import_softplus(ctx, node):
    beta, thr = _opt(node, 1, "beta", 1.0), _opt(node, 2, "threshold", 20.0)
    return ctx.emit(_aten("softplus"), (_x(ctx, node), float(ctx.static(beta, "beta")), float(ctx.static(thr, "threshold"))))


@register("module:Softsign")
def import_softsign_module(ctx, node):
    return _softsign(ctx, _x(ctx, node))


@register("fn:torch.nn.functional.softsign")
def import_softsign(ctx, node):
    return _softsign(ctx, _x(ctx, node))


def _softsign(lx, x):
    """x / (|x| + 1), as torch computes it."""
    import torch

    aten = torch.ops.aten
    a = lx.emit(aten.abs.default, (x,), primary=False)
    d = lx.emit(aten.add.Tensor, (a, 1.0), primary=False)
    return lx.emit(aten.div.Tensor, (x, d))


def _softmax(lx, node, dim, log: bool):
    if dim is None:
        lx.fail("dim", None, "give softmax an explicit dim")
    target = _aten_ov("log_softmax" if log else "softmax", "int")
    return lx.emit(target, (_x(lx, node), int(lx.static(dim, "dim"))))


def _aten_ov(name: str, overload: str):
    import torch

    return getattr(getattr(torch.ops.aten, name), overload)


@register("module:Softmax", "module:LogSoftmax")
def import_softmax_module(ctx, node):
    mod = ctx.module(node)
    return _softmax(ctx, node, mod.dim, type(mod).__name__ == "LogSoftmax")


@register("fn:torch.nn.functional.softmax", "fn:torch.softmax", "method:softmax", "fn:torch.nn.functional.log_softmax",
          "fn:torch.log_softmax", "method:log_softmax")
def import_softmax(ctx, node):
    if _opt(node, 3 if node.op == "call_function" and "functional" in str(node.target.__module__) else 2,
            "dtype", None) is not None:
        ctx.fail("dtype", "given")
    name = node.target if node.op == "call_method" else node.target.__name__
    return _softmax(ctx, node, _opt(node, 1, "dim", None), name == "log_softmax")


@register("fn:torch.clamp", "fn:torch.clip", "method:clamp", "method:clip", "method:clamp_")
def import_clamp(ctx, node):
    lo, hi = _opt(node, 1, "min", None), _opt(node, 2, "max", None)
    if hasattr(lo, "op") or hasattr(hi, "op"):
        ctx.fail("min/max", "tensor", "constant bounds")
    return ctx.emit(_aten_ov("clamp", "default"), (_x(ctx, node), lo, hi))
