"""Activations as torch.nn modules (so round trips keep their names), element-wise math
and reductions as torch functions."""
from __future__ import annotations

import math

from .context import TorchContext, attr, py, unsupported_attr
from .registry import register

# IR op -> nn module without arguments.
_PLAIN = {"Relu": "nn.ReLU", "Sigmoid": "nn.Sigmoid", "Tanh": "nn.Tanh", "Softsign": "nn.Softsign",
          "HardSwish": "nn.Hardswish", "Mish": "nn.Mish", "Identity": "nn.Identity"}
_UNARY = {"Abs": "torch.abs", "Exp": "torch.exp", "Log": "torch.log", "Sqrt": "torch.sqrt", "Neg": "torch.neg",
          "Reciprocal": "torch.reciprocal", "Erf": "torch.erf", "Floor": "torch.floor", "Ceil": "torch.ceil",
          "Sin": "torch.sin", "Cos": "torch.cos", "Not": "torch.logical_not", "Tan": "torch.tan",
          "Asin": "torch.asin", "Acos": "torch.acos", "Atan": "torch.atan", "Sinh": "torch.sinh",
          "Cosh": "torch.cosh", "Asinh": "torch.asinh", "Acosh": "torch.acosh", "Atanh": "torch.atanh",
          "Sign": "torch.sign", "Round": "torch.round", "IsNaN": "torch.isnan", "BitwiseNot": "torch.bitwise_not"}
_BINARY = {"Add": "{} + {}", "Sub": "{} - {}", "Mul": "{} * {}", "Div": "{} / {}", "Pow": "torch.pow({}, {})",
           "Greater": "{} > {}", "Less": "{} < {}", "Equal": "{} == {}", "And": "torch.logical_and({}, {})",
           "Or": "torch.logical_or({}, {})", "Xor": "torch.logical_xor({}, {})",
           "BitwiseAnd": "torch.bitwise_and({}, {})", "BitwiseOr": "torch.bitwise_or({}, {})",
           "BitwiseXor": "torch.bitwise_xor({}, {})"}
_SELU = (1.67326319217681884765625, 1.05070102214813232421875)


def _module(node, ctx: TorchContext, ctor: str, args=(), kwargs=None, state=None) -> None:
    m = ctx.layer(node, ctor, args, kwargs, state)
    ctx.assign(node.outputs[0], f"{m}({ctx.x(node.inputs[0])})")


@register(*_PLAIN)
def export_plain_activation(ctx: TorchContext, node):
    _module(node, ctx, _PLAIN[node.op])


@register(*_UNARY)
def export_unary(ctx: TorchContext, node):
    ctx.assign(node.outputs[0], f"{_UNARY[node.op]}({ctx.x(node.inputs[0])})")


@register(*_BINARY)
def export_binary(ctx: TorchContext, node):
    a, b = ctx.x(node.inputs[0]), ctx.x(node.inputs[1])
    info = ctx.graph.value_info(node.outputs[0])
    if node.op == "Div" and info is not None and info.dtype not in ("float32", "float16", "bfloat16", "float64"):
        ctx.assign(node.outputs[0], f"torch.div({a}, {b}, rounding_mode='trunc')")  # ONNX integer Div truncates
        return
    ctx.assign(node.outputs[0], _BINARY[node.op].format(a, b))


@register("BitShift")
def export_bitshift(ctx: TorchContext, node):
    """ONNX defines every shift amount: out-of-range ones give the sign fill (torch leaves them to C)."""
    x, y = ctx.x(node.inputs[0]), ctx.x(node.inputs[1])
    right = attr(node, "direction") == "RIGHT"
    bits, amount, shifted = ctx.tmp("bits"), ctx.tmp("amount"), ctx.tmp("shifted")
    ctx.line(f"{bits} = torch.iinfo({x}.dtype).bits")
    ctx.line(f"{amount} = torch.clamp({y}, 0, {bits} - 1)")
    fn = "torch.bitwise_right_shift" if right else "torch.bitwise_left_shift"
    ctx.line(f"{shifted} = {fn}({x}, {amount})")
    fill = f"torch.where({x} < 0, -1, 0).to({x}.dtype)" if right else f"torch.zeros_like({shifted})"
    ctx.assign(node.outputs[0], f"torch.where(({y} < 0) | ({y} >= {bits}), {fill}, {shifted})")


@register("Mod")
def export_mod(ctx: TorchContext, node):
    fn = "torch.fmod" if attr(node, "fmod") else "torch.remainder"
    ctx.assign(node.outputs[0], f"{fn}({ctx.x(node.inputs[0])}, {ctx.x(node.inputs[1])})")


@register("Max", "Min", "Sum", "Mean")
def export_variadic(ctx: TorchContext, node):
    xs = [ctx.x(i) for i in node.inputs]
    if node.op in ("Sum", "Mean"):
        expr = " + ".join(xs)
        if node.op == "Mean" and len(xs) > 1:
            expr = f"({expr}) / {len(xs)}"
    else:
        fn = "torch.maximum" if node.op == "Max" else "torch.minimum"
        expr = xs[0]
        for x in xs[1:]:
            expr = f"{fn}({expr}, {x})"
    ctx.assign(node.outputs[0], expr)


@register("Where")
def export_where(ctx: TorchContext, node):
    ctx.assign(node.outputs[0], f"torch.where({', '.join(ctx.x(i) for i in node.inputs)})")


@register("LeakyRelu")
def export_leaky_relu(ctx: TorchContext, node):
    _module(node, ctx, "nn.LeakyReLU", [float(attr(node, "alpha"))])


@register("Elu")
def export_elu(ctx: TorchContext, node):
    _module(node, ctx, "nn.ELU", [float(attr(node, "alpha"))])


@register("Celu")
def export_celu(ctx: TorchContext, node):
    _module(node, ctx, "nn.CELU", [float(attr(node, "alpha"))])


@register("Selu")
def export_selu(ctx: TorchContext, node):
    alpha, gamma = float(attr(node, "alpha")), float(attr(node, "gamma"))
    if (alpha, gamma) == _SELU:
        _module(node, ctx, "nn.SELU")
    else:  # torch's SELU has fixed constants: write the formula
        ctx.assign(node.outputs[0], f"{py(gamma)} * F.elu({ctx.x(node.inputs[0])}, alpha={py(alpha)})")


@register("Softplus")
def export_softplus(ctx: TorchContext, node):
    # nn.Softplus switches to the identity above `threshold`; that switch is exact in float32
    # only far above log(2**24): use a threshold where softplus(x) == x to the last bit.
    _module(node, ctx, "nn.Softplus", [], dict(beta=1.0, threshold=20.0))


@register("HardSigmoid")
def export_hard_sigmoid(ctx: TorchContext, node):
    alpha, beta = float(attr(node, "alpha")), float(attr(node, "beta"))
    if math.isclose(alpha, 1 / 6, rel_tol=1e-7) and beta == 0.5:
        _module(node, ctx, "nn.Hardsigmoid")
    else:
        ctx.assign(node.outputs[0], f"torch.clamp({py(alpha)} * {ctx.x(node.inputs[0])} + {py(beta)}, 0.0, 1.0)")


@register("PRelu")
def export_prelu(ctx: TorchContext, node):
    slope = ctx.weight(node.inputs[1])
    rank = ctx.rank(node.inputs[0])
    # nn.PReLU scales axis 1; ONNX broadcasts the slope from the last axis, so a slope is
    # per channel only as (C, 1, ..., 1) with one axis fewer than the input
    if slope is not None and (slope.size == 1 or (rank is not None and slope.ndim == rank - 1 and all(
            d == 1 for d in slope.shape[1:]))):
        _module(node, ctx, "nn.PReLU", [int(slope.size)], {}, {"weight": slope.reshape(-1)})
    else:  # a slope shared differently than per channel
        x = ctx.x(node.inputs[0])
        ctx.assign(node.outputs[0], f"torch.where({x} >= 0, {x}, {x} * {ctx.x(node.inputs[1])})")


@register("Gelu")
def export_gelu(ctx: TorchContext, node):
    _module(node, ctx, "nn.GELU", [], dict(approximate=attr(node, "approximate")))


@register("Silu")
def export_silu(ctx: TorchContext, node):
    beta = float(attr(node, "beta"))
    if beta == 1.0:
        _module(node, ctx, "nn.SiLU")
    else:
        x = ctx.x(node.inputs[0])
        ctx.assign(node.outputs[0], f"{x} * torch.sigmoid({py(beta)} * {x})")


@register("Clip")
def export_clip(ctx: TorchContext, node):
    lo, hi = attr(node, "min"), attr(node, "max")
    if lo == 0.0 and hi == 6.0:
        _module(node, ctx, "nn.ReLU6")
    elif lo is not None and hi is not None and lo <= hi:
        _module(node, ctx, "nn.Hardtanh", [float(lo), float(hi)])
    else:  # min > max gives max everywhere, as ONNX does (nn.Hardtanh refuses such bounds)
        ctx.assign(node.outputs[0], f"torch.clamp({ctx.x(node.inputs[0])}, min={py(lo)}, max={py(hi)})")


@register("ThresholdedRelu")
def export_thresholded_relu(ctx: TorchContext, node):
    x = ctx.x(node.inputs[0])
    ctx.assign(node.outputs[0], f"torch.where({x} > {py(float(attr(node, 'alpha')))}, {x}, torch.zeros_like({x}))")


@register("Softmax", "LogSoftmax")
def export_softmax(ctx: TorchContext, node):
    _module(node, ctx, "nn.Softmax" if node.op == "Softmax" else "nn.LogSoftmax", [], dict(dim=attr(node, "axis")))


@register("Dropout")
def export_dropout(ctx: TorchContext, node):
    # Identity in eval mode; kept as nn.Dropout so fine-tuning sees the original layer.
    if len(node.outputs) > 1 and node.outputs[1]:
        raise unsupported_attr("mask output", node.outputs[1])
    kind = attr(node, "kind")
    ctor = {"dropout": "nn.Dropout", "spatial": "nn.Dropout2d", "alpha": "nn.AlphaDropout"}.get(kind, "nn.Identity")
    _module(node, ctx, ctor, [float(attr(node, "ratio"))] if ctor != "nn.Identity" else [])


_REDUCE = {"ReduceMean": "torch.mean({x}, dim={d}, keepdim={k})", "ReduceMax": "torch.amax({x}, dim={d}, keepdim={k})",
           "ReduceMin": "torch.amin({x}, dim={d}, keepdim={k})", "ReduceSum": "torch.sum({x}, dim={d}, keepdim={k})",
           "ReduceSumSquare": "torch.sum({x} * {x}, dim={d}, keepdim={k})",
           "ReduceL1": "torch.sum(torch.abs({x}), dim={d}, keepdim={k})",
           "ReduceL2": "torch.sqrt(torch.sum({x} * {x}, dim={d}, keepdim={k}))",
           "ReduceLogSumExp": "torch.logsumexp({x}, dim={d}, keepdim={k})"}


@register(*_REDUCE, "ReduceProd")
def export_reduce(ctx: TorchContext, node):
    x, axes, keep = ctx.x(node.inputs[0]), attr(node, "axes"), bool(attr(node, "keepdims"))
    if node.op == "ReduceProd":  # torch.prod reduces one axis (or all): one call per axis
        if axes is None:
            whole = f"torch.prod({x})"
            ctx.assign(node.outputs[0], f"{whole}.reshape([1] * {x}.dim())" if keep else whole)
            return
        y = x
        for a in axes:
            y = f"torch.prod({y}, dim={int(a)}, keepdim=True)"
        ctx.assign(node.outputs[0], y if keep else f"{y}.squeeze({py(tuple(int(a) for a in axes))})")
        return
    d = f"tuple(range({x}.dim()))" if axes is None else py(tuple(int(a) for a in axes))
    if node.op in _EMPTY_IDENTITY and _reduces_empty_axis(ctx, node.inputs[0], axes):
        # torch.amax/amin refuse an empty axis; ONNX gives the reduction's identity
        fill = f"torch.full_like({x}.sum(dim={d}, keepdim={keep}), {_EMPTY_IDENTITY[node.op]})"
        ctx.assign(node.outputs[0], fill)
        return
    ctx.assign(node.outputs[0], _REDUCE[node.op].format(x=x, d=d, k=keep))


_EMPTY_IDENTITY = {"ReduceMax": "-math.inf", "ReduceMin": "math.inf"}


def _reduces_empty_axis(ctx: TorchContext, value: str, axes) -> bool:
    shape, info = ctx.shape(value), ctx.graph.value_info(value)
    if shape is None or info is None or not info.dtype.startswith("float"):  # +-inf is a float identity
        return False
    picked = range(len(shape)) if axes is None else [int(a) % len(shape) for a in axes]
    return any(shape[a] == 0 for a in picked)


@register("ArgMax")
def export_argmax(ctx: TorchContext, node):
    x, axis, keep = ctx.x(node.inputs[0]), attr(node, "axis"), bool(attr(node, "keepdims"))
    if attr(node, "select_last_index"):  # torch.argmax returns the first maximum: search the flipped axis
        ctx.assign(node.outputs[0], f"{x}.shape[{axis}] - 1 - torch.argmax(torch.flip({x}, [{axis}]), dim={axis}, "
                                    f"keepdim={keep})")
        return
    ctx.assign(node.outputs[0], f"torch.argmax({x}, dim={axis}, keepdim={keep})")


@register("TopK")
def export_topk(ctx: TorchContext, node):
    # a stable sort: equal values come out lowest index first, as ONNX requires (torch.topk
    # leaves ties in any order)
    x, axis, k = ctx.x(node.inputs[0]), attr(node, "axis"), attr(node, "k")
    ordered = ctx.tmp("sorted")
    ctx.line(f"{ordered} = torch.sort({x}, dim={axis}, descending={bool(attr(node, 'largest'))}, stable=True)")
    ctx.assign(node.outputs, f"{ordered}[0].narrow({axis}, 0, {k}), {ordered}[1].narrow({axis}, 0, {k})")


@register("IsInf")
def export_isinf(ctx: TorchContext, node):
    x = ctx.x(node.inputs[0])
    pos, neg = attr(node, "detect_positive"), attr(node, "detect_negative")
    expr = {(1, 1): f"torch.isinf({x})", (1, 0): f"torch.isposinf({x})", (0, 1): f"torch.isneginf({x})",
            (0, 0): f"torch.zeros_like({x}, dtype=torch.bool)"}[(pos, neg)]
    ctx.assign(node.outputs[0], expr)


@register("Shrink")
def export_shrink(ctx: TorchContext, node):
    x, b, lam = ctx.x(node.inputs[0]), py(float(attr(node, "bias"))), py(float(attr(node, "lambd")))
    ctx.assign(node.outputs[0], f"torch.where({x} < -{lam}, {x} + {b}, torch.where({x} > {lam}, {x} - {b}, "
                                f"torch.zeros_like({x})))")


@register("Det")
def export_det(ctx: TorchContext, node):
    ctx.assign(node.outputs[0], f"torch.linalg.det({ctx.x(node.inputs[0])})")
