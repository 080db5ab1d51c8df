"""Binary operators (elemwise_*, broadcast_*, legacy _Plus...), scalar forms, add_n and
unary math."""
from __future__ import annotations

import numpy as np

from ....errors import UnsupportedAttributeError
from ..context import NodeContext
from ..registry import register

_BINARY = {
    "Add": ("elemwise_add", "broadcast_add", "broadcast_plus", "_plus", "_Plus", "_add"),
    "Sub": ("elemwise_sub", "broadcast_sub", "broadcast_minus", "_minus", "_Minus", "_sub"),
    "Mul": ("elemwise_mul", "broadcast_mul", "_mul", "_Mul"),
    "Div": ("elemwise_div", "broadcast_div", "_div", "_Div"),
    "Max": ("broadcast_maximum", "_maximum", "_Maximum"),
    "Min": ("broadcast_minimum", "_minimum", "_Minimum"),
    "Pow": ("broadcast_power", "_power", "_Power"),
}
# scalar op -> (IR op, scalar first?)
_SCALAR = {
    "_plus_scalar": ("Add", False), "_PlusScalar": ("Add", False),
    "_minus_scalar": ("Sub", False), "_MinusScalar": ("Sub", False),
    "_rminus_scalar": ("Sub", True), "_RMinusScalar": ("Sub", True),
    "_mul_scalar": ("Mul", False), "_MulScalar": ("Mul", False),
    "_div_scalar": ("Div", False), "_DivScalar": ("Div", False),
    "_rdiv_scalar": ("Div", True), "_RDivScalar": ("Div", True),
    "_maximum_scalar": ("Max", False), "_MaximumScalar": ("Max", False),
    "_minimum_scalar": ("Min", False), "_MinimumScalar": ("Min", False),
    "_power_scalar": ("Pow", False), "_PowerScalar": ("Pow", False),
    "_rpower_scalar": ("Pow", True),
}


def broadcast_shape(a: tuple, b: tuple) -> tuple:
    rank = max(len(a), len(b))
    a, b = (1,) * (rank - len(a)) + tuple(a), (1,) * (rank - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            raise UnsupportedAttributeError("shapes", (a, b), "do not broadcast")
    return tuple(out)


def _arith(node, ctx: NodeContext, op: str) -> None:
    """One binary IR op for every MXNet spelling: two tensors, or a tensor and the
    ``scalar`` attribute (on the left for the _r*_scalar forms)."""
    if node.op in _SCALAR:
        c = ctx.weight("scalar", np.float32(ctx.float("scalar")))
        ins = [c, ctx.x(0)] if _SCALAR[node.op][1] else [ctx.x(0), c]
        ctx.out(op, ins, ctx.shape(0))
    else:
        ctx.out(op, [ctx.x(0), ctx.x(1)], broadcast_shape(ctx.shape(0), ctx.shape(1)))


def _spellings(op: str) -> tuple[str, ...]:
    return _BINARY[op] + tuple(k for k, (o, _) in _SCALAR.items() if o == op)


@register(*_spellings("Add"), emits=("Add",))
def import_add(ctx, node):
    _arith(node, ctx, "Add")


@register(*_spellings("Sub"), emits=("Sub",))
def import_sub(ctx, node):
    _arith(node, ctx, "Sub")


@register(*_spellings("Mul"), emits=("Mul",))
def import_mul(ctx, node):
    _arith(node, ctx, "Mul")


@register(*_spellings("Div"), emits=("Div",))
def import_div(ctx, node):
    _arith(node, ctx, "Div")


@register(*_spellings("Max"), emits=("Max",))
def import_maximum(ctx, node):
    _arith(node, ctx, "Max")


@register(*_spellings("Min"), emits=("Min",))
def import_minimum(ctx, node):
    _arith(node, ctx, "Min")


@register(*_spellings("Pow"), emits=("Pow",))
def import_power(ctx, node):
    _arith(node, ctx, "Pow")


_UNARY = ("relu", "sigmoid", "tanh", "exp", "log", "sqrt", "abs", "negative", "reciprocal", "erf", "_copy",
          "identity", "BlockGrad", "stop_gradient")


@register(*_UNARY,
          emits=("Abs", "Erf", "Exp", "Identity", "Log", "Neg", "Reciprocal", "Relu", "Sigmoid", "Sqrt", "Tanh"))
def import_unary(ctx, node):
    ops = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "exp": "Exp", "log": "Log", "sqrt": "Sqrt",
           "abs": "Abs", "negative": "Neg", "reciprocal": "Reciprocal", "erf": "Erf"}
    ctx.same(ops.get(node.op, "Identity"))  # the rest copy, or only stop gradients


@register("square", emits=("Mul",))
def import_square(ctx: NodeContext, node):
    ctx.out("Mul", [ctx.x(0), ctx.x(0)], ctx.shape(0))


@register("add_n", "ElementWiseSum", "_sum", emits=("Sum",))
def import_add_n(ctx: NodeContext, node):
    shapes = [ctx.shape(i) for i in range(ctx.n_inputs)]
    out = shapes[0]
    for s in shapes[1:]:
        out = broadcast_shape(out, s)
    ctx.out("Sum", [ctx.x(i) for i in range(ctx.n_inputs)], out)
